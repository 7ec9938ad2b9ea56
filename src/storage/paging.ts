import type { Page } from './types.js';

/** Cuts `limit + 1` fetched items to a page: one item more than asked says there is a next page. */
export function pageOf<T>(items: T[], limit: number, keyOf: (item: T) => string): Page<T> {
  const more = items.length > limit;
  const pageItems = more ? items.slice(0, limit) : items;
  const last = pageItems.at(-1);
  return { items: pageItems, next: more && last !== undefined ? keyOf(last) : null };
}
