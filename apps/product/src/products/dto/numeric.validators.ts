import { ValidateBy, type ValidationOptions } from 'class-validator';

/**
 * Strict numeric validators: a JSON number (never a string), finite, never `-0`, within its range. One
 * check per field, so a bad value gets one message instead of three (class-validator's `maxDecimalPlaces`
 * also throws on exponent notation such as `1e-7`, which turned into a 500).
 */
const isPlainNumber = (value: unknown): value is number =>
  typeof value === 'number' && Number.isFinite(value) && !Object.is(value, -0);

/** A decimal amount of money: a whole number of cents (at most two decimals) in [0, max]. */
export function IsPrice(max: number, options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isPrice',
      validator: {
        validate: (value: unknown) => {
          if (!isPlainNumber(value) || value < 0 || value > max) return false;
          const cents = value * 100;
          // 0.29 * 100 is 28.999999999999996: closer than a millionth of a cent is floating-point noise.
          return Math.abs(cents - Math.round(cents)) < 1e-6;
        },
        defaultMessage: (args) =>
          `${args?.property ?? 'value'} must be a number from 0 to ${max} with at most two decimals`,
      },
    },
    options,
  );
}

/** An integer in [min, max] (a JSON number: `"3"`, `3.5`, `-0` and `1e308` are refused). */
export function IsWholeNumber(min: number, max: number, options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isWholeNumber',
      validator: {
        validate: (value: unknown) =>
          isPlainNumber(value) && Number.isInteger(value) && value >= min && value <= max,
        defaultMessage: (args) => `${args?.property ?? 'value'} must be an integer from ${min} to ${max}`,
      },
    },
    options,
  );
}
