import type { Clock } from "../clock.ts";
import type { Store } from "../db/store.ts";
import type { ObjectKind } from "../providers/endpoints.ts";

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

  created(object: { providerKeyId: string; objectId: string; kind: ObjectKind }, proxyKeyId: string): void {
    this.store.storedObjects.record({ ...object, proxyKeyId, createdAt: this.clock.now() });
  }

  deleted(object: { providerKeyId: string; objectId: string }): void {
    this.store.storedObjects.remove(object.providerKeyId, object.objectId);
  }

  /** Which of a provider's listed ids the proxy key owns. */
  owned(providerKeyId: string, proxyKeyId: string, objectIds: string[]): Set<string> {
    return this.store.storedObjects.ownedAmong(providerKeyId, proxyKeyId, objectIds);
  }
}
