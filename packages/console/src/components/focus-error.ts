/** After a failed submit, brings the first field marked invalid (or error message) into view and focuses it. */
export function focusFirstError(root: HTMLElement | null) {
  requestAnimationFrame(() => {
    const el = root?.querySelector<HTMLElement>('[aria-invalid="true"], [role="alert"]');
    if (!el) return;
    el.scrollIntoView({ block: "center" });
    if (el.matches("input, textarea, select")) el.focus();
  });
}
