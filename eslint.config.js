import tseslint from 'typescript-eslint'

export default tseslint.config(
  {ignores: ['dist/', 'coverage/', '.tap/', 'node_modules/', '**/build/', '.cache/', '.venv/', 'lib/plan/types.generated.ts']},
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_'}],
    },
  },
)
