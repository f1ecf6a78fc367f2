// The library the notebooks import: `import * as fm from "fashion-mnist-lib"`.
export * from "./tf";
export * from "./config";
export * from "./paths";
export * from "./idx";
export * from "./download";
export * from "./dataset";
export * from "./model";
export * from "./train";
export * from "./metrics";
export * from "./persist";
export * from "./display";
export * from "./plots";
export * from "./images";
export * from "./views";
export * from "./evaluation-plots";
export * from "./run-facts";
export * from "./memory";
