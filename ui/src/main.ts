import { mount } from "svelte";
import App from "./App.svelte";
import { tauriBackend } from "./lib/backend";
import "./app.css";

// Test builds answer IPC from the test (see mock.ts); never in the app.
if (import.meta.env.MODE === "mock") await import("./mock");

const target = document.getElementById("app");
if (!target) throw new Error("index.html has no #app element");

export default mount(App, { target, props: { backend: tauriBackend } });
