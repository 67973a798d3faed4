/**
 * `map` over items with at most `concurrency` calls in flight, results in input order: how the
 * domain looks up many rooms without sending every lookup to storage at once (the Cassandra
 * driver refuses past 2,048 in flight per connection, and a burst that size delays everyone).
 */
export async function mapBounded<T, R>(items: readonly T[], concurrency: number, call: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < items.length && !failed) {
      const index = next++;
      try {
        results[index] = await call(items[index]!);
      } catch (error) {
        // The answer is an error now: stop starting lookups nobody will read.
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}
