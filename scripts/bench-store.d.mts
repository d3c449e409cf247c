/** What one phase measured: ops/s, the server's CPU µs per operation (of which system), this client's. */
export interface PhaseFigures {
  ops: number;
  cpu: number;
  sys: number;
  client: number;
  count?: number;
}

/** The driver alone against scripts/wire-floor.mjs (canned replies, no store): medians of the rounds. */
export function measureDriverFloor(options?: { seconds?: number; rounds?: number }): Promise<{
  findOne: PhaseFigures;
  updateOne: PhaseFigures;
  rounds: Array<{ findOne: PhaseFigures; updateOne: PhaseFigures }>;
}>;

/** The built store with 10,000 documents: findOne and updateOne, 16 in flight and one at a time. */
export function measureStore(options?: { seconds?: number; rounds?: number; cli?: string }): Promise<{
  findOne: PhaseFigures;
  updateOne: PhaseFigures;
  findOneSerial: PhaseFigures;
  updateOneSerial: PhaseFigures;
  rounds: Array<Record<'findOne' | 'updateOne' | 'findOneSerial' | 'updateOneSerial', PhaseFigures>>;
}>;
