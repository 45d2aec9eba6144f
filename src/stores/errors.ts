/** A unique value (username, client_id) is already taken. */
export class DuplicateError extends Error {
  override readonly name = 'DuplicateError';
}

/** A row the operation needs does not exist. */
export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
}
