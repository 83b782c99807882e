/** Usage is counted in UTC hours: their length in ms, and the start of the hour holding a moment. */
export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
export const hourOf = (ms: number) => ms - (ms % HOUR);
