/** A token rejected before or during verification, with the reason reported in 401s (and metrics). */
export class TokenRejected extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'TokenRejected';
  }
}
