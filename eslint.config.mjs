// ESLint for the project's TypeScript (formatting is Prettier's: npm run format).
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "node_modules/",
      "build/",
      "lib/dist/",
      "site/",
      ".venv/",
      ".venv-bench/",
      ".cache/",
      "data/",
      "output/",
      "reports/",
      "test-artifacts/",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // Loading TensorFlow after a command line was read, and tslab's own module, need require().
      "@typescript-eslint/no-require-imports": "off",
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" },
      ],
    },
  },
  {
    // Plain CommonJS run by Node (the sandboxed kernel's launcher).
    files: ["**/*.js"],
    languageOptions: {
      sourceType: "commonjs",
      globals: { require: "readonly", process: "readonly", console: "readonly" },
    },
  },
);
