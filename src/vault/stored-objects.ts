import type { Clock } from "../clock.ts";
import type { Store } from "../db/store.ts";
import type { ObjectKind } from "../providers/endpoints.ts";

export interface CreatedObject {
  providerKeyId: string;
  objectId: string;
  kind: ObjectKind;
}

/**
 * Objects a provider stores for whoever created them (files, batches, stored
 * responses, vector stores…) are shared by everyone holding that provider's
 * key. keyward records which proxy key created each one, from the provider's
 * answer, so every other proxy key is told the object does not exist.
 */
export class ObjectOwners {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /** Only the proxy key that created an object through keyward may use it; one keyward never saw belongs to no one. */
  mayUse(object: { providerKeyId: string; objectId: string }, proxyKeyId: string): boolean {
    return this.store.storedObjects.ownerOf(object.providerKeyId, object.objectId) === proxyKeyId;
  }

  /**
   * Every object one answer created, in one write: an upload's file and a
   * batch's output files come with others. `also` writes what else goes with
   * them in the same transaction (it may run again, like any `write`).
   */
  async created(objects: readonly CreatedObject[], proxyKeyId: string, also?: (tx: Store) => void): Promise<void> {
    const createdAt = this.clock.now();
    await this.store.write((tx) => {
      for (const object of objects) tx.storedObjects.record({ ...object, proxyKeyId, createdAt });
      also?.(tx);
    });
  }

  async deleted(object: { providerKeyId: string; objectId: string }): Promise<void> {
    await this.store.write((tx) => tx.storedObjects.remove(object.providerKeyId, object.objectId));
  }

  /** Which of a provider's listed ids the proxy key owns. */
  owned(providerKeyId: string, proxyKeyId: string, objectIds: string[]): Set<string> {
    return this.store.storedObjects.ownedAmong(providerKeyId, proxyKeyId, objectIds);
  }
}
