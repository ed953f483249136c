//! A command's progress on stderr. On a terminal: one live spinner line per
//! prefix (a server, or Pond's own work) with its running step and latest
//! output; a step that has ended becomes a line above them, `✓ [prefix]
//! step (time)`, or `✗` when the run failed during it, so the last screen
//! is a summary of every step. Elsewhere: plain `[prefix] == step` and
//! `[prefix] line` lines (logs, CI).
//!
//! When a step ends follows the progress protocol of
//! [`pond::ssh::Stream::Step`]: at the next step or [`Stream::Done`] fact
//! of its prefix (sooner for Pond's own prefixes); a fact shows as `✓ [prefix]
//! fact` at once, with no time. Whatever still runs when the command ends,
//! ends with it ([`Progress::outcome`]): ✓ when it succeeded; when it failed,
//! ✗ for the prefixes its error names (all, if it names none) and `–` for
//! the others, which were only stopped. A prefix that failed before any step
//! of its own shows ✗ with its last output line.

use std::io::{IsTerminal, Write};
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use pond::ssh::{API, LOCAL, Sink, Stream};

/// The progress sink of one command. Pass it where a `&Sink` is wanted;
/// end it with [`Progress::outcome`]. Dropped without that (an early
/// return with an error), its running steps end as failed.
pub(super) struct Progress {
    sink: Sink,
    board: Option<Arc<Board>>,
}

impl Progress {
    /// Spinners when stderr is a terminal, plain lines when not.
    pub(super) fn new() -> Progress {
        if std::io::stderr().is_terminal() {
            Progress::drawn_on(ProgressDrawTarget::stderr())
        } else {
            Progress {
                sink: Arc::new(plain),
                board: None,
            }
        }
    }

    /// Spinners drawn on `target`.
    pub(super) fn drawn_on(target: ProgressDrawTarget) -> Progress {
        let board = Arc::new(Board {
            multi: MultiProgress::with_draw_target(target),
            style: ProgressStyle::with_template("{spinner} [{prefix}] {wide_msg}")
                .expect("valid template"),
            running: Mutex::new(vec![]),
            over: AtomicBool::new(false),
        });
        let drawn = Arc::clone(&board);
        Progress {
            sink: Arc::new(move |prefix: &str, stream: Stream, line: &str| {
                drawn.line(prefix, stream, line);
            }),
            board: Some(board),
        }
    }

    /// Ends the steps still running (see the module doc for the marks) and
    /// gives `result` back.
    pub(super) fn outcome<T, E: std::fmt::Display>(&self, result: Result<T, E>) -> Result<T, E> {
        if let Some(board) = &self.board {
            match &result {
                Ok(_) => board.end_all(&End::Done),
                Err(e) => board.end_all(&End::Failed(format!("{e:#}").to_lowercase())),
            }
        }
        result
    }
}

impl Deref for Progress {
    type Target = Sink;
    fn deref(&self) -> &Sink {
        &self.sink
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(board) = &self.board {
            board.end_all(&End::Failed(String::new()));
        }
    }
}

/// Whether the (lower-cased) error text names `prefix` as a whole name:
/// `web-1` is not named by "web-10", `local` not by "locally".
fn names(text: &str, prefix: &str) -> bool {
    let prefix = prefix.to_lowercase();
    let part = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    text.match_indices(&prefix).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + prefix.len()..].chars().next();
        // A name ends a sentence too ("… on web-1."): a dot then the end
        // or a space is not part of it.
        let after_ok = match after {
            None => true,
            Some('.') => text[at + prefix.len() + 1..]
                .chars()
                .next()
                .is_none_or(|c| !part(c)),
            Some(c) => !part(c),
        };
        before.is_none_or(|c| !part(c)) && after_ok
    })
}

/// How the command ended, for the steps still running.
enum End {
    Done,
    /// The error's text, lower-cased, to find the prefixes it names.
    Failed(String),
}

impl End {
    fn mark(&self, prefix: &str, any_named: bool) -> char {
        match self {
            End::Done => '✓',
            End::Failed(text) if !any_named || names(text, prefix) => '✗',
            End::Failed(_) => '–',
        }
    }
}

fn plain(prefix: &str, stream: Stream, line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = match stream {
        Stream::Step | Stream::Done => writeln!(err, "[{prefix}] == {line}"),
        Stream::Stdout | Stream::Stderr => writeln!(err, "[{prefix}] {line}"),
    };
}

/// The live spinners, one per prefix with a running step.
struct Board {
    multi: MultiProgress,
    style: ProgressStyle,
    running: Mutex<Vec<Running>>,
    /// The command has ended: a straggler's steps start no new spinner.
    over: AtomicBool,
}

/// The running step of one prefix; `step` is empty for output that came
/// before any step of its prefix.
struct Running {
    prefix: String,
    step: String,
    started: Instant,
    bar: ProgressBar,
}

impl Board {
    fn line(&self, prefix: &str, stream: Stream, line: &str) {
        let mut running = self.running.lock().expect("progress lock");
        if self.over.load(Ordering::SeqCst) && stream != Stream::Stderr {
            return;
        }
        match stream {
            Stream::Step | Stream::Done => {
                let ends = |r: &Running| {
                    r.prefix == prefix || r.prefix == API || r.prefix == LOCAL || prefix == API
                };
                let (ended, kept) = std::mem::take(&mut *running).into_iter().partition(ends);
                *running = kept;
                for r in ended {
                    self.end(r, '✓');
                }
                if stream == Stream::Step {
                    running.push(self.start(prefix, line));
                } else {
                    let _ = self.multi.println(format!("✓ [{prefix}] {line}"));
                }
            }
            Stream::Stdout => {
                if !running.iter().any(|r| r.prefix == prefix) {
                    running.push(self.start(prefix, ""));
                }
                if let Some(r) = running.iter().find(|r| r.prefix == prefix) {
                    r.bar.set_message(if r.step.is_empty() {
                        line.to_string()
                    } else {
                        format!("{} · {line}", r.step)
                    });
                }
            }
            Stream::Stderr => {
                let _ = self.multi.println(format!("[{prefix}] {line}"));
            }
        }
    }

    fn start(&self, prefix: &str, step: &str) -> Running {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(self.style.clone());
        bar.set_prefix(prefix.to_string());
        bar.set_message(step.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        Running {
            prefix: prefix.to_string(),
            step: step.to_string(),
            started: Instant::now(),
            bar,
        }
    }

    /// Replaces a running step's spinner by its line with `mark`. Output
    /// that came before any step shows only when it failed (its last line).
    fn end(&self, r: Running, mark: char) {
        let last = r.bar.message();
        r.bar.finish_and_clear();
        self.multi.remove(&r.bar);
        if !r.step.is_empty() {
            let took = took(r.started.elapsed());
            let _ = self
                .multi
                .println(format!("{mark} [{}] {} ({took})", r.prefix, r.step));
        } else if mark == '✗' && !last.is_empty() {
            let _ = self.multi.println(format!("✗ [{}] {last}", r.prefix));
        }
    }

    fn end_all(&self, how: &End) {
        let mut running = self.running.lock().expect("progress lock");
        self.over.store(true, Ordering::SeqCst);
        let ended = std::mem::take(&mut *running);
        drop(running);
        let any_named = ended
            .iter()
            .any(|r| matches!(how, End::Failed(t) if names(t, &r.prefix)));
        for r in ended {
            let mark = how.mark(&r.prefix, any_named);
            self.end(r, mark);
        }
    }
}

/// A step's duration as people read it: `0.4s`, `12s`, `2m 05s`.
fn took(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 10 {
        format!("{:.1}s", d.as_secs_f64())
    } else if secs < 60 {
        format!("{secs}s")
    } else {
        format!("{}m {:02}s", secs / 60, secs % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn screen(steps: &[(&str, Stream, &str)], ok: bool) -> String {
        let term = indicatif::InMemoryTerm::new(30, 100);
        let progress = Progress::drawn_on(ProgressDrawTarget::term_like(Box::new(term.clone())));
        for (prefix, stream, line) in steps {
            progress(prefix, *stream, line);
        }
        let _ = progress.outcome(if ok { Ok(()) } else { Err("it failed") });
        drop(progress);
        term.contents()
    }

    fn is_spinner(c: char) -> bool {
        ('\u{2800}'..='\u{28ff}').contains(&c)
    }

    #[test]
    fn every_step_ends_with_a_mark_and_no_spinner_is_left() {
        let shown = screen(
            &[
                (API, Stream::Step, "creating droplet demo-production-1"),
                (API, Stream::Step, "waiting for droplet 7 to become active"),
                ("demo-production-1", Stream::Step, "installing nginx"),
                ("demo-production-1", Stream::Stdout, "Setting up nginx"),
                ("demo-production-1", Stream::Stderr, "debconf: a warning"),
                ("demo-production-1", Stream::Step, "provisioned"),
                (API, Stream::Step, "pointing demo.example.com at 198.18.0.2"),
                (LOCAL, Stream::Step, "1 files (5 bytes) to deploy"),
                ("demo-production-1", Stream::Step, "lock taken"),
            ],
            true,
        );
        let lines: Vec<&str> = shown.lines().map(str::trim_end).collect();
        let steps: Vec<String> = lines
            .iter()
            .filter(|l| !l.is_empty() && !l.starts_with("[demo"))
            .map(|l| l.split(" (").next().unwrap_or_default().to_string())
            .collect();
        assert_eq!(
            steps,
            [
                "✓ [digitalocean] creating droplet demo-production-1",
                "✓ [digitalocean] waiting for droplet 7 to become active",
                "✓ [demo-production-1] installing nginx",
                "✓ [demo-production-1] provisioned",
                "✓ [digitalocean] pointing demo.example.com at 198.18.0.2",
                "✓ [local] 1 files",
                "✓ [demo-production-1] lock taken",
            ],
            "{shown}"
        );
        assert!(
            lines.contains(&"[demo-production-1] debconf: a warning"),
            "{shown}"
        );
        assert!(!shown.chars().any(is_spinner), "{shown}");
        assert!(
            lines
                .iter()
                .all(|l| !l.starts_with('✓') || l.ends_with("s)")),
            "every step shows its time: {shown}"
        );
    }

    #[test]
    fn a_failed_run_crosses_out_what_was_running() {
        let shown = screen(
            &[
                (API, Stream::Step, "checking the account token"),
                (API, Stream::Step, "registering your SSH key"),
                ("web-1", Stream::Step, "deploying"),
                ("web-2", Stream::Step, "deploying"),
                ("web-1", Stream::Step, "health check"),
            ],
            false,
        );
        let marks: Vec<&str> = shown
            .lines()
            .map(|l| l.split(" (").next().unwrap_or_default())
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(
            marks,
            [
                "✓ [digitalocean] checking the account token",
                "✓ [digitalocean] registering your SSH key",
                "✓ [web-1] deploying",
                "✗ [web-2] deploying",
                "✗ [web-1] health check",
            ],
            "{shown}"
        );
        assert!(!shown.chars().any(is_spinner), "{shown}");
    }

    #[test]
    fn a_failure_crosses_out_the_server_it_names_and_only_stops_the_others() {
        let term = indicatif::InMemoryTerm::new(30, 100);
        let progress = Progress::drawn_on(ProgressDrawTarget::term_like(Box::new(term.clone())));
        progress("web-1", Stream::Step, "deploying");
        progress("web-2", Stream::Step, "deploying");
        progress("web-3", Stream::Stdout, "unpacking");
        let _ = progress.outcome(Err::<(), _>("deploying to web-2 failed (exit 1)"));
        drop(progress);
        let shown = term.contents();
        let marks: Vec<&str> = shown
            .lines()
            .map(|l| l.split(" (").next().unwrap_or_default().trim_end())
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(
            marks,
            ["– [web-1] deploying", "✗ [web-2] deploying"],
            "web-1 finished nothing wrong; web-3 had no step: {shown}"
        );
        // Named nowhere: a server that failed before any step of its own
        // still shows its last output with a cross.
        let term = indicatif::InMemoryTerm::new(30, 100);
        let progress = Progress::drawn_on(ProgressDrawTarget::term_like(Box::new(term.clone())));
        progress("web-3", Stream::Stdout, "tar: broken pipe");
        let _ = progress.outcome(Err::<(), _>("the upload stopped"));
        drop(progress);
        assert_eq!(term.contents().trim(), "✗ [web-3] tar: broken pipe");
    }

    #[test]
    fn an_error_names_a_server_only_by_its_whole_name() {
        assert!(names("deploying to web-1 failed", "web-1"));
        assert!(names("not healthy on web-1.", "web-1"));
        assert!(!names("deploying to web-10 failed", "web-1"));
        assert!(!names("built locally", "local"));
        assert!(names("digitalocean said 500", "digitalocean"));
        assert!(!names("shop-production-12: lost", "shop-production-1"));
    }

    #[test]
    fn a_fact_is_done_at_once_and_ends_the_step_before_it() {
        let term = indicatif::InMemoryTerm::new(30, 100);
        let progress = Progress::drawn_on(ProgressDrawTarget::term_like(Box::new(term.clone())));
        progress("web-1", Stream::Step, "connecting");
        progress("web-1", Stream::Done, "lock taken");
        progress("web-1", Stream::Step, "uploading");
        let _ = progress.outcome(Ok::<(), &str>(()));
        drop(progress);
        let shown = term.contents();
        let lines: Vec<&str> = shown
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(lines.len(), 3, "{shown}");
        assert!(lines[0].starts_with("✓ [web-1] connecting ("), "{shown}");
        assert_eq!(
            lines[1], "✓ [web-1] lock taken",
            "a fact has no time: {shown}"
        );
        assert!(lines[2].starts_with("✓ [web-1] uploading ("), "{shown}");
        assert!(!shown.chars().any(is_spinner), "{shown}");
    }

    #[test]
    fn steps_after_the_end_start_no_spinner() {
        let shown = screen(&[], true);
        assert_eq!(shown.trim(), "");
        let term = indicatif::InMemoryTerm::new(10, 80);
        let progress = Progress::drawn_on(ProgressDrawTarget::term_like(Box::new(term.clone())));
        let sink = Sink::clone(&progress);
        let _ = progress.outcome(Ok::<(), &str>(()));
        sink("web-1", Stream::Step, "late");
        sink("web-1", Stream::Stderr, "late warning");
        drop(progress);
        drop(sink);
        assert_eq!(term.contents().trim(), "[web-1] late warning");
    }

    #[test]
    fn durations_read_like_a_person_would_say_them() {
        assert_eq!(took(Duration::from_millis(420)), "0.4s");
        assert_eq!(took(Duration::from_secs(12)), "12s");
        assert_eq!(took(Duration::from_secs(125)), "2m 05s");
    }
}
