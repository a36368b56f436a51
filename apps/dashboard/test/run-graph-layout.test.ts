import { describe, expect, it } from 'vitest';
import { CELLS_MAX, GROUPS_MAX, LAYOUT_ITEMS_MAX, dependencyDepths, layoutRunGraph } from '../src/run-graph-layout.js';

type Item = { id: string; state: string; dependsOn: string[] };
const item = (id: string, dependsOn: string[] = []): Item => ({ id, state: 'waiting', dependsOn });

/** `chains` chains of `length` items each: c<k>-<i> depends on c<k>-<i-1>. */
function chains(count: number, length: number): Item[] {
  const out: Item[] = [];
  for (let c = 0; c < count; c++) for (let i = 0; i < length; i++) out.push(item(`c${c}-${i}`, i > 0 ? [`c${c}-${i - 1}`] : []));
  return out;
}

describe('run graph layout', () => {
  it('lays out a small run item by item: every item a node inside the drawing, each dependency left of its dependent, one edge per dependency', () => {
    const items = [item('fetch'), item('parse', ['fetch']), item('index', ['parse']), item('report', ['parse', 'index']), item('lonely')];
    const l = layoutRunGraph(items);
    expect(l.view).toBe('items');
    expect(l.nodes.map((n) => n.id).sort()).toEqual(['fetch', 'index', 'lonely', 'parse', 'report']);
    for (const n of l.nodes) {
      expect(n.x).toBeGreaterThanOrEqual(0);
      expect(n.y).toBeGreaterThanOrEqual(0);
      expect(n.x + n.width).toBeLessThanOrEqual(l.width);
      expect(n.y + n.height).toBeLessThanOrEqual(l.height);
    }
    const at = new Map(l.nodes.map((n) => [n.id, n]));
    expect(l.edges.map((e) => `${e.from}>${e.to}`).sort()).toEqual(['fetch>parse', 'index>report', 'parse>index', 'parse>report']);
    for (const e of l.edges) {
      expect(at.get(e.from)!.x).toBeLessThan(at.get(e.to)!.x);
      expect(e.points.length).toBeGreaterThanOrEqual(2);
    }
  });

  it('depths: 0 without dependencies, one more than the deepest dependency; a 200,000-item chain needs no recursion', () => {
    const d = dependencyDepths([item('a'), item('b', ['a']), item('c', ['a', 'b']), item('d', ['unregistered'])]);
    expect(Object.fromEntries(d)).toEqual({ a: 0, b: 1, c: 2, d: 0 });
    const long = chains(1, 200_000);
    expect(dependencyDepths(long).get('c0-199999')).toBe(199_999);
  });

  it(`groups a 10,000-item run by dependency depth: at most ${GROUPS_MAX} groups, one cell per item inside its group's box`, () => {
    const items = chains(100, 100);
    const l = layoutRunGraph(items);
    expect(items.length).toBeGreaterThan(LAYOUT_ITEMS_MAX);
    expect(l.view).toBe('groups');
    expect(l.nodes).toHaveLength(10_000);
    expect(new Set(l.nodes.map((n) => n.id)).size).toBe(10_000);
    expect(l.groups.length).toBeGreaterThan(1);
    expect(l.groups.length).toBeLessThanOrEqual(GROUPS_MAX);
    const depth = dependencyDepths(items);
    // Bands are contiguous, in order, and cover every depth once.
    expect(l.groups[0]!.depthFrom).toBe(0);
    for (let i = 1; i < l.groups.length; i++) expect(l.groups[i]!.depthFrom).toBe(l.groups[i - 1]!.depthTo + 1);
    expect(l.groups.at(-1)!.depthTo).toBe(99);
    for (const n of l.nodes) {
      const g = l.groups[n.group!]!;
      expect(depth.get(n.id)).toBeGreaterThanOrEqual(g.depthFrom);
      expect(depth.get(n.id)).toBeLessThanOrEqual(g.depthTo);
      expect(n.x).toBeGreaterThanOrEqual(g.x);
      expect(n.y).toBeGreaterThanOrEqual(g.y);
      expect(n.x + n.width).toBeLessThanOrEqual(g.x + g.width);
      expect(n.y + n.height).toBeLessThanOrEqual(g.y + g.height);
    }
    expect(l.groups.reduce((s, g) => s + g.items, 0)).toBe(10_000);
    // Edges join groups, each from a shallower band to a deeper one.
    expect(l.edges.length).toBeGreaterThan(0);
    for (const e of l.edges) expect(Number(e.from)).toBeLessThan(Number(e.to));
  });

  it(`past ${CELLS_MAX} items the groups keep counts only: no cells, but every item still has its group`, () => {
    const items = chains(30, 10);
    const l = layoutRunGraph(items, { itemsMax: 50, cellsMax: 100 });
    expect(l.view).toBe('groups');
    expect(l.nodes).toEqual([]);
    expect(l.groupOf?.size).toBe(300);
    expect(l.groups.reduce((s, g) => s + g.items, 0)).toBe(300);
  });
});
