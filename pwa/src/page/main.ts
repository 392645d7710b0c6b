// The page's entry: the view, then the app. The relay's sockets live in this page, never in the
// service worker (which the browser stops whenever it likes).
import { App } from "./app.js";
import { View } from "./view.js";

const view = new View();
const app = new App(view);
view.bind(app.actions);
// Exposed for tests and for curious users in the console.
Object.defineProperty(globalThis, "tether", { get: () => app.debug, configurable: true });
app.start().catch((error: unknown) => view.fatal(error instanceof Error ? error.message : String(error)));
