/**
 * Which write failures belong to an entry (retrying cannot help, the entry must eventually be
 * dead-lettered) and which are an outage (retry the same entries until Cassandra is back).
 * Getting this wrong in the first direction would dead-letter good messages during an outage,
 * so only errors that name the row are entry errors; anything unknown counts as an outage.
 */
import cassandra from "cassandra-driver";

const { responseErrorCodes } = cassandra.types;

/** InvalidRequest messages that mean the schema is missing, not that the row is bad. */
const SCHEMA_MISSING = /unconfigured table|keyspace .* does not exist|cannot be found|no keyspace has been specified/i;

export function isEntryError(error: unknown): boolean {
  if (error instanceof cassandra.errors.ResponseError) {
    return error.code === responseErrorCodes.invalid && !SCHEMA_MISSING.test(error.message);
  }
  // The driver could not encode a value of the row (wrong type, number out of range).
  return error instanceof TypeError || error instanceof RangeError;
}
