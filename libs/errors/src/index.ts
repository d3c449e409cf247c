export { ERROR_STATUS, type ErrorCode, isErrorCode } from './error-codes.js';
export { errorCode, LabError, type LabErrorOptions } from './lab-error.js';
