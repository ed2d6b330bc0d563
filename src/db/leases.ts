/**
 * Budget leases: how instances sharing one database spend one budget without
 * asking the database per request. Each instance holds a grant (a slice) of
 * each budget it serves and admits requests only within it; the database
 * grants slices under a row lock so that the closed spend plus every open
 * slice never passes the budget. An instance that dies holding a slice loses
 * it (it is taken as spent): underspend, never overspend.
 */
export interface LeaseSubject {
  /** A proxy key's budget, or a team's. */
  holder: "key" | "team";
  /** The proxy key's or the team's id. */
  id: string;
  periodStartedAt: number;
}

export interface LeaseRequest extends LeaseSubject {
  /** What this instance has spent under its grant so far (reported with the request). */
  usedMicros: number;
  /** The grant must reach at least this (spent + reserved + the request) for the request to be admitted. */
  minMicros: number;
  /** What the grant would ideally reach: the minimum plus a slice, so the next requests need no round trip. */
  wantMicros: number;
}

export interface LeaseAnswer {
  /** This instance's grant now (less than `minMicros` when the budget has no more room). */
  grantedMicros: number;
  /** Spend and grants outside this instance's: closed spend plus the other instances' open slices. */
  outsideMicros: number;
  /** Spend outside this instance's as last reported: closed spend plus what other instances spent under their slices. */
  spentOutsideMicros: number;
  /** The budget as the database holds it (an admin may have changed it meanwhile). */
  budgetMicros: number | null;
}

export interface LeaseUsage extends LeaseSubject {
  usedMicros: number;
}

export interface BudgetLeases {
  grant(request: LeaseRequest): Promise<LeaseAnswer>;
  /** Records what was spent under each grant, so others see the spend and a crash loses no more than the slice. */
  report(usage: LeaseUsage[]): Promise<void>;
  /** Ends grants: their spend becomes closed spend, the rest of each slice goes back to the budget. */
  close(usage: LeaseUsage[]): Promise<void>;
  /**
   * Spend outside this instance, by subject id: closed spend plus what other
   * instances reported under their slices, in each subject's period (a subject
   * whose stored period is older has spent nothing in this one).
   */
  spentElsewhere(subjects: LeaseSubject[]): Promise<Map<string, number>>;
}
