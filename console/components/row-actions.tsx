/** Controls that several list pages share. */

/** "Load more" under a paged list, while the API says there is a next page. */
export function LoadMore({ list }: { list: { hasMore: boolean; more: () => void } }) {
  if (!list.hasMore) return null;
  return (
    <button type="button" class="secondary" onClick={list.more}>
      Load more
    </button>
  );
}

/** The actions of a client row (API client or application): a new secret, and delete. */
export function ClientRowActions({
  clientId,
  busy,
  onRotate,
  onDelete,
}: {
  clientId: string;
  busy: boolean;
  onRotate: () => void;
  onDelete: () => void;
}) {
  return (
    <td class="actions">
      <button type="button" class="secondary" onClick={onRotate} disabled={busy}>
        New secret<span class="sr-only"> for {clientId}</span>
      </button>
      <button type="button" class="danger" onClick={onDelete} disabled={busy}>
        Delete<span class="sr-only"> {clientId}</span>
      </button>
    </td>
  );
}
