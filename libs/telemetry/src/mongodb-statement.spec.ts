import { MongoDBInstrumentation } from '@opentelemetry/instrumentation-mongodb';
import {
  Binary,
  BSONRegExp,
  BSONSymbol,
  Code,
  DBRef,
  Decimal128,
  Double,
  Int32,
  Long,
  MaxKey,
  MinKey,
  ObjectId,
  Timestamp,
  UUID,
} from 'bson';
import { describe, expect, it } from 'vitest';
import { labInstrumentations } from './instrumentations.js';
import { maskedStatement } from './mongodb-statement.js';

/** The instrumentation's own serialiser, the one the lab replaces. */
const librarySerializer = (() => {
  const instrumentation = new MongoDBInstrumentation({ enabled: false }) as unknown as {
    _defaultDbStatementSerializer(command: Record<string, unknown>): string;
  };
  return (command: Record<string, unknown>) => instrumentation._defaultDbStatementSerializer(command);
})();

const USER_DATA = ['ada@example.com', 's3cret-hash', 'Ada "the" Lovelace', '42.5', '1234567'];

const id = new ObjectId();
const commands: Record<string, Record<string, unknown>> = {
  'an order insert': {
    _id: id,
    customerId: new ObjectId(),
    email: USER_DATA[0],
    lines: [
      { productId: new ObjectId(), quantity: 2, price: 42.5 },
      { productId: new ObjectId(), quantity: new Int32(1), price: new Double(9.99) },
    ],
    status: 'PENDING',
    total: new Decimal128('1234567'),
    createdAt: new Date('2026-12-06T22:00:00Z'),
    idempotencyKey: new UUID(),
  },
  'a conditional stock update': {
    findAndModify: 'products',
    query: { _id: id, stock: { $gte: 2 }, deleted: { $ne: true } },
    update: { $inc: { stock: -2 }, $set: { updatedAt: new Date() } },
    new: true,
    $db: 'lab',
    lsid: { id: new UUID() },
    $clusterTime: {
      clusterTime: new Timestamp({ t: 1, i: 2 }),
      signature: { hash: new Binary(), keyId: Long.fromNumber(7) },
    },
  },
  'a user with a password hash, queried by e-mail': {
    find: 'customers',
    filter: {
      email: { $in: [USER_DATA[0], 'b@example.com'] },
      passwordHash: USER_DATA[1],
      name: USER_DATA[2],
    },
    projection: { passwordHash: 0 },
    sort: { createdAt: -1 },
    limit: 1,
  },
  'every other BSON and JSON value': {
    regex: new BSONRegExp('^ada', 'i'),
    nativeRegex: /^ada/i,
    code: new Code('function () { return 1; }', { secret: USER_DATA[1] }),
    codeWithoutScope: new Code('return 1'),
    ref: new DBRef('customers', id, 'lab', { email: USER_DATA[0] }),
    min: new MinKey(),
    max: new MaxKey(),
    symbol: new BSONSymbol(USER_DATA[2]),
    long: Long.fromString(USER_DATA[4]),
    buffer: Buffer.from('pw'),
    bytes: new Uint8Array([1, 2]),
    big: 12n,
    nothing: null,
    missing: undefined,
    notANumber: Number.NaN,
    yes: true,
    invalidDate: new Date(Number.NaN),
    fn: () => USER_DATA[1],
    sym: Symbol('s'),
    map: new Map([['k', USER_DATA[0]]]),
    nested: [[[USER_DATA[0]], []], {}, [{ a: [{ b: USER_DATA[1] }] }]],
    sparse: [1, , 3], // eslint-disable-line no-sparse-arrays
    'we"ird\\key\n\u0001': 1,
    '\ud800lone': 2,
    'ключ 🙂': 3,
    '0': 'integer-like keys come first',
  },
};

describe(maskedStatement.name, () => {
  it.each(Object.entries(commands))(
    'writes %s exactly as the instrumentation default does',
    (_name, command) => {
      expect(maskedStatement(command)).toBe(librarySerializer(command));
    },
  );

  it('keeps keys, operators, nesting and array lengths and masks every value', () => {
    expect(
      maskedStatement({
        find: 'orders',
        filter: {
          _id: { $in: [new ObjectId(), new ObjectId()] },
          at: { $lt: new Date() },
          n: [[1, 'x'], {}],
        },
        total: new Decimal128('1.5'),
        when: new Timestamp({ t: 1, i: 1 }),
        limit: 1,
      }),
    ).toBe(
      '{"find":"?","filter":{"_id":{"$in":["?","?"]},"at":{"$lt":"?"},"n":[["?","?"],{}]},' +
        '"total":{"$numberDecimal":"?"},"when":{"$timestamp":"?"},"limit":"?"}',
    );
  });

  it('puts no user data in the statement', () => {
    for (const command of Object.values(commands)) {
      const text = maskedStatement(command);
      for (const value of [...USER_DATA, 'PENDING', 'products', 'customers', id.toHexString()])
        expect(text).not.toContain(value);
    }
  });

  it('writes an object met again, as on a cycle, as "[Circular]" like the default', () => {
    const shared = { a: 1 };
    const cyclic: Record<string, unknown> = { find: 'x', twice: [shared, shared] };
    cyclic.self = cyclic;
    expect(maskedStatement(cyclic)).toBe('{"find":"?","twice":[{"a":"?"},"[Circular]"],"self":"[Circular]"}');
    expect(maskedStatement(cyclic)).toBe(librarySerializer(cyclic));
  });

  it('masks boxed primitives, which the default would print', () => {
    const boxed = { n: Object(12345) as unknown, s: Object(USER_DATA[0]) as unknown };
    expect(librarySerializer(boxed)).toContain(USER_DATA[0]);
    expect(maskedStatement(boxed)).not.toContain(USER_DATA[0]);
    expect(maskedStatement(boxed)).not.toContain('12345');
  });

  it('is the serialiser the lab gives the MongoDB instrumentation', () => {
    const mongodb = labInstrumentations().find((i) => i instanceof MongoDBInstrumentation);
    expect(mongodb?.getConfig()).toMatchObject({ dbStatementSerializer: maskedStatement });
  });
});
