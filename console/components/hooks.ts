/** Small hooks the pages share: loading data, paging through lists, running an action. */
import { useCallback, useEffect, useState } from 'preact/hooks';
import { api, type Page } from '../api';

/** Data loaded by `load` (again when `deps` change or `reload` is called). */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    let live = true;
    setError(null);
    load().then(
      (value) => live && setData(value),
      (reason: unknown) => live && setError(reason),
    );
    return () => {
      live = false;
    };
  }, [...deps, generation]);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  return { data, error, reload, setData };
}

/**
 * A paged list (`?limit=&cursor=`): the items loaded so far, whether there are more, and
 * `more()` to load the next page.
 */
export function usePagedList<T>(path: (cursor: string | null) => string, deps: unknown[]) {
  const [items, setItems] = useState<T[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    let live = true;
    setLoading(true);
    setError(null);
    api.get<Page<T>>(path(null)).then(
      (page) => {
        if (!live) return;
        setItems(page.items);
        setNext(page.next_cursor);
        setLoading(false);
      },
      (reason: unknown) => {
        if (!live) return;
        setError(reason);
        setLoading(false);
      },
    );
    return () => {
      live = false;
    };
  }, [...deps, generation]);
  const more = async () => {
    if (next === null) return;
    try {
      const page = await api.get<Page<T>>(path(next));
      setItems((old) => [...old, ...page.items]);
      setNext(page.next_cursor);
    } catch (reason) {
      setError(reason);
    }
  };
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  return { items, hasMore: next !== null, more, error, loading, reload };
}

/** Runs one action at a time: its error, whether it runs, and `run`. */
export function useAction() {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const run = async <T>(action: () => Promise<T>): Promise<T | undefined> => {
    setBusy(true);
    setError(null);
    try {
      return await action();
    } catch (reason) {
      setError(reason);
      return undefined;
    } finally {
      setBusy(false);
    }
  };
  return { error, busy, run, setError };
}
