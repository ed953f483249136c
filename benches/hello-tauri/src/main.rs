//! Hello world in a Tauri 2 window: the baseline Pond's app is measured against.
fn main() {
    tauri::Builder::default()
        .run(tauri::generate_context!())
        .expect("the window failed to start");
}
