/**
 * A measurement held against a target is shortened toward failing it, never rounded across it:
 * 0.1997 against "≥ 0.20" shows as 0.199, 4.01 ms against "≤ 4 ms" as 4.1. (The epsilon keeps
 * binary fractions such as 1.6 × 10 = 16.000000000000004 from moving a place.)
 */
export const floorTo = (x: number, places: number) => Math.floor(x * 10 ** places + 1e-9) / 10 ** places;
export const ceilTo = (x: number, places: number) => Math.ceil(x * 10 ** places - 1e-9) / 10 ** places;
