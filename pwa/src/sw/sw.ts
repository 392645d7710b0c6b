// The service worker: a thin router. It precaches the app's shell (so the app opens with no
// network, e.g. before the phone has any), answers navigations with that shell, brings the app
// back when its "paused" notification is tapped, and takes an update only when the page says so.
// It never holds the relay's sockets: the browser stops service workers whenever they are idle.
import { cleanupOutdatedCaches, createHandlerBoundToURL, precacheAndRoute } from "workbox-precaching";
import { NavigationRoute, registerRoute } from "workbox-routing";

declare const self: ServiceWorkerGlobalScope & {
  __WB_MANIFEST: Array<string | { url: string; revision: string | null }>;
};

/** Paths the exit serves itself, never the app's shell. */
const NOT_THE_APP = [/^\/(tunnel|healthz|metrics)(\/|$)/];

precacheAndRoute(self.__WB_MANIFEST);
cleanupOutdatedCaches();
registerRoute(new NavigationRoute(createHandlerBoundToURL("/index.html"), { denylist: NOT_THE_APP }));

// The first install controls the open page at once (so it works offline from then on); later
// versions wait for the page's word (registerType "prompt"), which never comes mid-relay.
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
self.addEventListener("message", (event) => {
  if ((event.data as { type?: string } | null)?.type === "SKIP_WAITING") void self.skipWaiting();
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(
    focusOrOpen(
      new URL((event.notification.data as { url?: string })?.url ?? "/", self.location.origin).href,
    ),
  );
});

/** Focuses the app's window if one is open (it resumes on becoming visible), else opens one. */
async function focusOrOpen(url: string): Promise<void> {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const app = windows.find((client) => new URL(client.url).origin === self.location.origin);
  if (app) await app.focus();
  else await self.clients.openWindow(url);
}
