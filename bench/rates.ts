/**
 * A rate for the report: whole numbers, but one decimal below 100 per second, where rounding to a
 * whole number would move a ratio (the password row's ~35 logins/s) by more than 1%.
 */
export function roundRate(perSecond: number): number {
  return perSecond >= 100 ? Math.round(perSecond) : Math.round(perSecond * 10) / 10;
}
