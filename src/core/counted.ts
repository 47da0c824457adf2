/** `n` with its noun, singular for one: `1 change`, `3 changes`, `0 keys`. */
export const counted = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`;
