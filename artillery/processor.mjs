// Artillery loads a processor with import() only when its name ends in .mjs; the processor is
// written in TypeScript (processor.ts) and compiled by `npm run build` into dist/.
export * from "../dist/artillery/processor.js";
