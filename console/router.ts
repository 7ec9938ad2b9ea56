/**
 * Hash routing (`/console#/identity-providers/x/scripts/backchannel`): the server serves
 * one page at `/console`, and every view has a link of its own that survives a reload.
 */
import { useEffect, useState } from 'preact/hooks';

/** A route: the path's segments after `#/`, decoded. */
export type Route = string[];

/** The current route from `location.hash`. */
export function currentRoute(): Route {
  const path = location.hash.replace(/^#\/?/, '').split('?', 1)[0] ?? '';
  return path
    .split('/')
    .filter((part) => part !== '')
    .map((part) => decodeURIComponent(part));
}

/** The href of a route, its segments encoded. */
export function href(...segments: string[]): string {
  return `#/${segments.map(encodeURIComponent).join('/')}`;
}

/** Goes to a route. */
export function navigate(...segments: string[]): void {
  location.hash = href(...segments);
}

/** The current route, updated on every hash change. */
export function useRoute(): Route {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const update = () => setRoute(currentRoute());
    addEventListener('hashchange', update);
    return () => removeEventListener('hashchange', update);
  }, []);
  return route;
}
