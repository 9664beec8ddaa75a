// ESLint flat config: typescript-eslint with type information, kept to the rules that catch real bugs
// in an async server (promises nobody awaits, promises passed where a callback's result is ignored)
// plus consistent type-only imports. Formatting is not linted.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'test/compat/go/**', 'test/compat/python/**', '**/*.js', '**/*.mjs'],
  },
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, ...tseslint.configs.recommended],
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      // Underscore-prefixed names are deliberately unused (interface-shaped parameters, omitted keys).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // A server's own closures may read a binding (guarded) before its single late assignment.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // Protocol parsers (ICAP, HTTP headers, search terms) match control characters on purpose.
      'no-control-regex': 'off',
    },
  },
);
