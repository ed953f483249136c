//! Just enough of the W3C WebDriver protocol to drive the real app window
//! through `tauri-driver` (which runs WebKitWebDriver): a session, finding
//! elements by CSS or XPath, clicking, typing, reading text, screenshots.

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Driver {
    base: String,
    session: String,
}

fn call(method: &str, url: &str, body: Option<Value>) -> Result<Value, String> {
    let req = ureq::request(method, url).timeout(Duration::from_secs(120));
    let result = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    match result {
        Ok(r) => r.into_json::<Value>().map_err(|e| e.to_string()),
        Err(ureq::Error::Status(code, r)) => Err(format!(
            "HTTP {code}: {}",
            r.into_string().unwrap_or_default()
        )),
        Err(e) => Err(e.to_string()),
    }
}

impl Driver {
    /// Starts the app at `application` through the driver at `base`.
    pub fn start(base: &str, application: &str) -> Driver {
        let caps = json!({"capabilities": {"alwaysMatch": {"tauri:options": {"application": application}}}});
        let v = call("POST", &format!("{base}/session"), Some(caps)).expect("a WebDriver session");
        let session = v["value"]["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        Driver {
            base: base.to_string(),
            session,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/session/{}{path}", self.base, self.session)
    }

    fn find_now(&self, using: &str, value: &str) -> Option<String> {
        let v = call(
            "POST",
            &self.url("/element"),
            Some(json!({"using": using, "value": value})),
        )
        .ok()?;
        v["value"][ELEMENT].as_str().map(str::to_string)
    }

    /// Waits up to `timeout` for an element matching the XPath.
    pub fn wait_xpath(&self, xpath: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(id) = self.find_now("xpath", xpath) {
                return id;
            }
            if Instant::now() > deadline {
                let body = self.text_of_body();
                panic!("no element {xpath} within {timeout:?}; the window shows:\n{body}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// A button by its visible text (waits up to 20 s).
    pub fn button(&self, text: &str) -> String {
        self.wait_xpath(
            &format!("//button[normalize-space()='{text}' and not(@disabled)]"),
            Duration::from_secs(20),
        )
    }

    /// An input by its label text (waits up to 20 s).
    pub fn input(&self, label: &str) -> String {
        self.wait_xpath(
            &format!("//label[starts-with(normalize-space(), '{label}')]//input | //input[@aria-label='{label}']"),
            Duration::from_secs(20),
        )
    }

    pub fn click(&self, element: &str) {
        call(
            "POST",
            &self.url(&format!("/element/{element}/click")),
            Some(json!({})),
        )
        .expect("click");
    }

    pub fn clear(&self, element: &str) {
        call(
            "POST",
            &self.url(&format!("/element/{element}/clear")),
            Some(json!({})),
        )
        .expect("clear");
    }

    pub fn type_into(&self, element: &str, text: &str) {
        call(
            "POST",
            &self.url(&format!("/element/{element}/value")),
            Some(json!({"text": text})),
        )
        .expect("typing");
    }

    /// Replaces an input's value.
    pub fn fill(&self, label: &str, text: &str) {
        let input = self.input(label);
        self.clear(&input);
        self.type_into(&input, text);
    }

    pub fn text(&self, element: &str) -> String {
        call("GET", &self.url(&format!("/element/{element}/text")), None).expect("text")["value"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn text_of_body(&self) -> String {
        self.find_now("css selector", "body")
            .map(|b| self.text(&b))
            .unwrap_or_default()
    }

    /// Waits until the window's text contains `needle`.
    pub fn wait_text(&self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let body = self.text_of_body();
            if body.contains(needle) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the window never showed {needle:?}; it shows:\n{body}"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    pub fn screenshot(&self, path: &std::path::Path) {
        let v = call("GET", &self.url("/screenshot"), None).expect("screenshot");
        let png = base64::engine::general_purpose::STANDARD
            .decode(v["value"].as_str().unwrap_or_default())
            .expect("base64 PNG");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }

    pub fn quit(&self) {
        let _ = call(
            "DELETE",
            &format!("{}/session/{}", self.base, self.session),
            None,
        );
    }
}
