/** `n` and the noun in the number it takes: "1 item", "2 items", "0 items" (`many` for an irregular plural). */
export function counted(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
