import { LabValidationPipe } from '#lab/bootstrap';
import { validationErrors } from '#lab/testing';
import { describe, expect, it } from 'vitest';
import { UpdateCustomerDto } from './update-customer.dto.js';

// The pipe every service runs with.
const pipe = new LabValidationPipe();
const address = { line1: '1 Trace Street', city: 'Berlin', postalCode: '10115', country: 'DE' };

/** The validation messages for a body, or [] when it is accepted. */
const errorsOf = (body: unknown) => validationErrors(pipe, UpdateCustomerDto, body);

describe(UpdateCustomerDto.name, () => {
  it('accepts a name, an address, or both', async () => {
    expect(await errorsOf({ name: 'Ann' })).toEqual([]);
    expect(await errorsOf({ address })).toEqual([]);
    expect(await errorsOf({ name: 'Ann', address: { ...address, line2: 'Floor 2' } })).toEqual([]);
  });

  it('refuses null where a string or an object is expected', async () => {
    expect(await errorsOf({ name: null })).toContain('name must be a string');
    expect(await errorsOf({ address: null })).toContain('address must be an object');
    expect(await errorsOf({ name: null, address: null })).toHaveLength(4);
    expect((await errorsOf({ address: { ...address, line2: null } })).join()).toMatch(/line2/);
    expect((await errorsOf({ address: { ...address, city: null } })).join()).toMatch(/city/);
  });

  it('refuses an array where the address object belongs, and arrays or objects where a string belongs', async () => {
    expect(await errorsOf({ address: [address] })).toContain('address must be an object');
    expect(await errorsOf({ address: [] })).toContain('address must be an object');
    expect(await errorsOf({ name: ['Ann'] })).toContain('name must be a string');
    expect(await errorsOf({ name: { $gt: '' } })).toContain('name must be a string');
    expect((await errorsOf({ address: { ...address, country: ['DE'] } })).join()).toMatch(/country/);
  });

  it('refuses an empty or partial address and unknown fields', async () => {
    expect(await errorsOf({ address: {} })).not.toEqual([]);
    expect((await errorsOf({ address: { line1: 'x' } })).join()).toMatch(/city/);
    expect(await errorsOf({ address: { ...address, planet: 'Earth' } })).toContain(
      'address.property planet should not exist',
    );
    expect(await errorsOf({ email: 'x@example.com' })).toContain('property email should not exist');
  });
});
