/** Where the local cluster keeps data and logs: git-ignored folders of the checkout. */
import { fileURLToPath } from "node:url";
import { join } from "node:path";

/** The repository root (dist/scripts/infra/paths.js → three levels up). */
export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const DATA_ROOT = join(REPO_ROOT, ".data");
