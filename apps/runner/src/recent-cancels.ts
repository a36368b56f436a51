/**
 * The runs whose cancellation this runner heard on the cancel channel, for a while. Pub/sub tells
 * only the items running at that moment; an item whose start script ran just before the cancel
 * (so the cancel counted it as running and will not end it) but which this runner had not yet
 * listed as running would otherwise run to its end. Its start looks here once it is listed.
 */
export class RecentCancels {
  private readonly heardAt = new Map<string, number>();

  /** keepMs: far longer than any start takes; most: a bound on memory should cancels pour in. */
  constructor(
    private readonly keepMs = 10 * 60_000,
    private readonly most = 10_000,
  ) {}

  heard(runId: string): void {
    this.heardAt.delete(runId);
    this.heardAt.set(runId, Date.now());
    // Oldest first (a Map keeps insertion order): drop what is stale or over the bound.
    const now = Date.now();
    for (const [id, at] of this.heardAt) {
      if (now - at < this.keepMs && this.heardAt.size <= this.most) break;
      this.heardAt.delete(id);
    }
  }

  has(runId: string): boolean {
    const at = this.heardAt.get(runId);
    return at !== undefined && Date.now() - at < this.keepMs;
  }
}
