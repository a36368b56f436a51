import { Graph, layout, type EdgeLabel, type GraphLabel, type NodeLabel } from '@dagrejs/dagre';
import type { RunGraph } from '@agora/sdk';

/**
 * Largest run drawn item by item with its edges (dagre). dagre's layout grows faster than the
 * graph (a 1,000-item tree took seconds on a busy 2-core host) and blocks the event loop while
 * it works, so past this the run is drawn grouped.
 */
export const LAYOUT_ITEMS_MAX = 400;
/** Largest run whose items are each drawn as a cell inside their group; past it groups show counts only. */
export const CELLS_MAX = 20_000;
/** Most groups of the grouped view (dependency-depth bands). */
export const GROUPS_MAX = 60;

const NODE_W = 150;
const NODE_H = 24;
const CELL = 10;
const GRID_COLS = 50;
const GROUP_PAD = 8;
const GROUP_HEADER = 22;
const MARGIN = 16;

type Point = readonly [x: number, y: number];
type LayoutGraph = Graph<GraphLabel, NodeLabel, EdgeLabel>;

export interface LaidOutNode {
  readonly id: string;
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  /** The group the item's cell is in (grouped view). */
  readonly group?: number;
}

export interface LaidOutGroup {
  readonly index: number;
  /** The dependency depths of its items (0: no dependencies; d: the longest chain below it is d items). */
  readonly depthFrom: number;
  readonly depthTo: number;
  readonly items: number;
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** Where everything goes; independent of the items' states, so a run's layout is made once. */
export interface GraphLayout {
  /** `items`: one node per item with its edges; `groups`: items in dependency-depth bands, edges between bands. */
  readonly view: 'items' | 'groups';
  readonly width: number;
  readonly height: number;
  /** Every item in `items` view; in `groups` view one cell per item, none past CELLS_MAX. */
  readonly nodes: readonly LaidOutNode[];
  /** Item to item (`items`), or group index to group index as text (`groups`). */
  readonly edges: ReadonlyArray<{ readonly from: string; readonly to: string; readonly points: readonly Point[] }>;
  readonly groups: readonly LaidOutGroup[];
  /** Per item, its group (grouped view only): lets counts per group follow live states even with no cells drawn. */
  readonly groupOf?: ReadonlyMap<string, number>;
}

type Items = RunGraph['items'];

/**
 * Each item's dependency depth: 0 without dependencies, else one more than its deepest
 * dependency (Kahn's order, no recursion: a 200,000-item chain must not overflow the stack).
 * Dependencies not registered yet are ignored.
 */
export function dependencyDepths(items: Items): Map<string, number> {
  const known = new Set(items.map((i) => i.id));
  const dependents = new Map<string, string[]>();
  const left = new Map<string, number>();
  for (const it of items) {
    const deps = it.dependsOn.filter((d) => known.has(d));
    left.set(it.id, deps.length);
    for (const d of deps) (dependents.get(d) ?? dependents.set(d, []).get(d)!).push(it.id);
  }
  const depth = new Map<string, number>();
  const ready = items.filter((i) => left.get(i.id) === 0).map((i) => i.id);
  for (const id of ready) depth.set(id, 0);
  for (let i = 0; i < ready.length; i++) {
    const id = ready[i]!;
    const d = depth.get(id)!;
    for (const next of dependents.get(id) ?? []) {
      depth.set(next, Math.max(depth.get(next) ?? 0, d + 1));
      const n = left.get(next)! - 1;
      left.set(next, n);
      if (n === 0) ready.push(next);
    }
  }
  // A plan is acyclic (validated at submission); should a cycle slip in, its items go last.
  let deepest = 0;
  for (const d of depth.values()) deepest = Math.max(deepest, d);
  for (const it of items) if (!depth.has(it.id)) depth.set(it.id, deepest + 1);
  return depth;
}

/** dagre's size of a graph; an empty graph's is -Infinity, which JSON writes as null. */
function extent(n: number | undefined): number {
  return Number.isFinite(n) ? Math.ceil(n!) : 0;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

/** Lays out a run's graph: item by item up to `LAYOUT_ITEMS_MAX` items, grouped past it. */
export function layoutRunGraph(items: Items, opts: { itemsMax?: number; cellsMax?: number; groupsMax?: number } = {}): GraphLayout {
  return items.length <= (opts.itemsMax ?? LAYOUT_ITEMS_MAX) ? layoutItems(items) : layoutGroups(items, opts.cellsMax ?? CELLS_MAX, opts.groupsMax ?? GROUPS_MAX);
}

function newGraph(): LayoutGraph {
  const g = new Graph<GraphLabel, NodeLabel, EdgeLabel>();
  // longest-path ranking: linear, where dagre's default network simplex took seconds on a few hundred items.
  g.setGraph({ rankdir: 'LR', nodesep: 8, ranksep: 36, edgesep: 4, marginx: MARGIN, marginy: MARGIN, ranker: 'longest-path' });
  g.setDefaultEdgeLabel(() => ({}));
  return g;
}

function edgePoints(g: LayoutGraph, from: string, to: string): Point[] {
  const label: EdgeLabel | undefined = g.edge(from, to);
  const points = (label?.points ?? []) as ReadonlyArray<{ x: number; y: number }>;
  return points.map((p) => [round(p.x), round(p.y)] as const);
}

function layoutItems(items: Items): GraphLayout {
  const g = newGraph();
  const known = new Set(items.map((i) => i.id));
  for (const it of items) g.setNode(it.id, { width: NODE_W, height: NODE_H });
  const pairs: Array<[string, string]> = [];
  for (const it of items) for (const d of it.dependsOn) if (known.has(d)) pairs.push([d, it.id]);
  for (const [a, b] of pairs) g.setEdge(a, b);
  layout(g);
  const nodes = items.map((it) => {
    const n = g.node(it.id);
    return { id: it.id, x: round(n.x - NODE_W / 2), y: round(n.y - NODE_H / 2), width: NODE_W, height: NODE_H };
  });
  const size = g.graph();
  return {
    view: 'items',
    width: extent(size.width),
    height: extent(size.height),
    nodes,
    edges: pairs.map(([from, to]) => ({ from, to, points: edgePoints(g, from, to) })),
    groups: [],
  };
}

function layoutGroups(items: Items, cellsMax: number, groupsMax: number): GraphLayout {
  const depth = dependencyDepths(items);
  const byDepth = new Map<number, string[]>();
  for (const it of items) {
    const d = depth.get(it.id)!;
    (byDepth.get(d) ?? byDepth.set(d, []).get(d)!).push(it.id);
  }
  // Consecutive depths share a band until it holds a fair share of the items: at most groupsMax bands.
  const target = Math.ceil(items.length / groupsMax);
  const bands: Array<{ depthFrom: number; depthTo: number; ids: string[] }> = [];
  for (const d of [...byDepth.keys()].sort((a, b) => a - b)) {
    const last = bands[bands.length - 1];
    if (last && last.ids.length < target) {
      last.depthTo = d;
      // A loop, not push(...ids): one depth may hold 200,000 items, past the argument limit.
      for (const id of byDepth.get(d)!) last.ids.push(id);
    } else {
      bands.push({ depthFrom: d, depthTo: d, ids: [...byDepth.get(d)!] });
    }
  }
  const groupOf = new Map<string, number>();
  bands.forEach((b, i) => {
    b.ids.sort();
    for (const id of b.ids) groupOf.set(id, i);
  });
  const cells = items.length <= cellsMax;
  const boxOf = (n: number): { width: number; height: number } => {
    if (!cells) return { width: 180, height: GROUP_HEADER + 2 * GROUP_PAD + 16 };
    const cols = Math.min(n, GRID_COLS);
    return { width: Math.max(180, cols * CELL + 2 * GROUP_PAD), height: GROUP_HEADER + GROUP_PAD + Math.ceil(n / cols) * CELL + GROUP_PAD };
  };
  const g = newGraph();
  g.setGraph({ ...g.graph(), rankdir: 'TB' });
  bands.forEach((b, i) => g.setNode(String(i), boxOf(b.ids.length)));
  const bandEdges = new Set<string>();
  for (const it of items) {
    const to = groupOf.get(it.id)!;
    for (const d of it.dependsOn) {
      const from = groupOf.get(d);
      if (from !== undefined && from !== to) bandEdges.add(`${from}>${to}`);
    }
  }
  const edgeList = [...bandEdges].map((e) => e.split('>') as [string, string]);
  for (const [a, b] of edgeList) g.setEdge(a, b);
  layout(g);
  const groups: LaidOutGroup[] = bands.map((b, i) => {
    const n = g.node(String(i));
    return { index: i, depthFrom: b.depthFrom, depthTo: b.depthTo, items: b.ids.length, x: round(n.x - n.width / 2), y: round(n.y - n.height / 2), width: n.width, height: n.height };
  });
  const nodes: LaidOutNode[] = [];
  if (cells) {
    bands.forEach((b, i) => {
      const box = groups[i]!;
      const cols = Math.min(b.ids.length, GRID_COLS);
      b.ids.forEach((id, k) => {
        nodes.push({ id, group: i, x: round(box.x + GROUP_PAD + (k % cols) * CELL), y: round(box.y + GROUP_HEADER + Math.floor(k / cols) * CELL), width: CELL - 2, height: CELL - 2 });
      });
    });
  }
  const size = g.graph();
  return {
    view: 'groups',
    width: extent(size.width),
    height: extent(size.height),
    nodes,
    edges: edgeList.map(([from, to]) => ({ from, to, points: edgePoints(g, from, to) })),
    groups,
    groupOf,
  };
}
