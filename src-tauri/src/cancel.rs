//! Cancelling long work from the window. A run registers under an id the
//! window chose; `cancel` drops the engine's future at its next await, which
//! closes its SSH channels — to the server exactly like a cut connection,
//! which the fault suite shows is safe: the live colour is never touched, a
//! half-built release is replaced by the next deploy, and the lock is freed
//! when the server notices (or reclaimed with `--break-lock`).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use anyhow::anyhow;
use tokio::sync::oneshot;

use crate::commands::Res;
use pond::tasks::Stop;

/// Runs that can be cancelled, by id.
#[derive(Default)]
pub struct Runs(Mutex<HashMap<String, oneshot::Sender<()>>>);

impl Runs {
    fn register(&self, id: &str) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut map) = self.0.lock() {
            map.insert(id.to_string(), tx);
        }
        rx
    }

    fn forget(&self, id: &str) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(id);
        }
    }

    /// Asks the run to stop; false when no such run is going.
    pub fn cancel(&self, id: &str) -> bool {
        let sender = self.0.lock().ok().and_then(|mut map| map.remove(id));
        sender.is_some_and(|tx| tx.send(()).is_ok())
    }
}

/// Runs `work` on the engine's runtime until it ends or `id` is cancelled;
/// a cancelled run ends with `what_now` as its error.
pub async fn cancellable<T, F, Fut>(
    runs: &Runs,
    id: Option<String>,
    what_now: &'static str,
    work: F,
) -> Res<T>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let Some(id) = id else {
        return crate::commands::engine(work).await;
    };
    let stop = runs.register(&id);
    let result = crate::commands::engine(move || async move {
        tokio::select! {
            r = work() => r,
            _ = stop => Err(anyhow!("{what_now}")),
        }
    })
    .await;
    runs.forget(&id);
    result
}

/// Runs `work` on the engine's runtime with a [`Stop`] that `cancel(id)`
/// requests: the task stops at its next step boundary and its error says
/// what state the servers are in (for work that must not be cut mid-step,
/// such as creating droplets, which would leave them unrecorded).
pub async fn stoppable<T, F, Fut>(runs: &Runs, id: Option<String>, work: F) -> Res<T>
where
    T: Send + 'static,
    F: FnOnce(Stop) -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let stop = Stop::default();
    let Some(id) = id else {
        return crate::commands::engine(move || work(stop)).await;
    };
    let cancelled = runs.register(&id);
    let flag = stop.clone();
    // Ends when the run is cancelled, or when `forget` drops the sender.
    std::thread::spawn(move || {
        if cancelled.blocking_recv().is_ok() {
            flag.request();
        }
    });
    let result = crate::commands::engine(move || work(stop)).await;
    runs.forget(&id);
    result
}

#[tauri::command]
pub fn cancel(run_id: String, runs: tauri::State<'_, Runs>) -> bool {
    runs.cancel(&run_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancelled_run_ends_with_what_to_expect_and_an_unknown_one_is_refused() {
        let runs = std::sync::Arc::new(Runs::default());
        let rt = tokio::runtime::Runtime::new().unwrap();
        let r = runs.clone();
        let waiting = rt.spawn(async move {
            cancellable(
                &r,
                Some("run-1".into()),
                "stopped; the live colour was not touched",
                || async {
                    tokio::time::sleep(std::time::Duration::from_secs(600)).await;
                    anyhow::Ok(1)
                },
            )
            .await
        });
        // Wait until the run is registered, then cancel it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !runs.cancel("run-1") {
            assert!(
                std::time::Instant::now() < deadline,
                "the run never registered"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let result = rt.block_on(waiting).unwrap();
        let err = result.expect_err("cancelled");
        assert_eq!(err.message, "stopped; the live colour was not touched");
        assert!(
            !runs.cancel("run-1"),
            "a finished run cannot be cancelled again"
        );
        assert!(!runs.cancel("nope"));
    }

    #[test]
    fn a_stoppable_run_stops_at_its_next_step_and_says_where() {
        let runs = std::sync::Arc::new(Runs::default());
        let rt = tokio::runtime::Runtime::new().unwrap();
        let r = runs.clone();
        let steps = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let done = steps.clone();
        let waiting = rt.spawn(async move {
            stoppable(&r, Some("run-2".into()), move |stop| async move {
                for _ in 0..60_000 {
                    stop.check("the next step", "Step state is known.")?;
                    done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                anyhow::Ok(())
            })
            .await
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !runs.cancel("run-2") {
            assert!(std::time::Instant::now() < deadline, "never registered");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let err = rt.block_on(waiting).unwrap().expect_err("stopped");
        assert_eq!(
            err.message,
            "Stopped before the next step, as asked. Step state is known."
        );
        assert!(steps.load(std::sync::atomic::Ordering::SeqCst) < 60_000);
    }
}
