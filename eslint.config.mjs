// ESLint (npm run lint): JavaScript's and typescript-eslint's recommended rules, @pulumi/eslint-plugin,
// and eslint-config-prettier last so that no rule argues with Prettier's formatting.
import js from "@eslint/js";
import pulumi from "@pulumi/eslint-plugin";
import prettier from "eslint-config-prettier";
import { defineConfig, includeIgnoreFile } from "eslint/config";
import { join } from "node:path";
import tseslint from "typescript-eslint";

export default defineConfig(
  includeIgnoreFile(join(import.meta.dirname, ".gitignore")),
  js.configs.recommended,
  {
    rules: {
      // Rejecting control characters (requests, terminal output) takes control characters in the pattern.
      "no-control-regex": "off",
      // Rethrown errors carry a redacted description, not the original: AWS messages can echo a task token.
      "preserve-caught-error": "off",
    },
  },
  {
    files: ["**/*.js"],
    languageOptions: { sourceType: "commonjs", globals: { process: "readonly", __dirname: "readonly" } },
  },
  {
    files: ["**/*.ts"],
    extends: [tseslint.configs.recommended],
    // The Pulumi rules need types (is this value an Output?): the program of tsconfig.json.
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { "@pulumi": pulumi },
    rules: {
      "@pulumi/no-output-in-template-literal": "error",
      "@pulumi/no-output-instance-in-template-literal": "error",
      // As tsc's noUnusedLocals: destructuring a key away to drop it, or naming it _x, is deliberate.
      "@typescript-eslint/no-unused-vars": [
        "error",
        { ignoreRestSiblings: true, argsIgnorePattern: "^_", varsIgnorePattern: "^_" },
      ],
    },
  },
  {
    files: ["tests/**/*.ts"],
    rules: {
      // chai's property assertions (expect(x).to.be.empty) are expressions.
      "@typescript-eslint/no-unused-expressions": "off",
      // Tests match terminal output column by column: literal spaces read as the output does.
      "no-regex-spaces": "off",
      // Tests read parsed JSON (state machine definitions, AWS request bodies, recorded resources)
      // whose shape their assertions check; typing each path would restate what they assert.
      "@typescript-eslint/no-explicit-any": "off",
    },
  },
  prettier,
);
