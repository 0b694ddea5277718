import tseslint from 'typescript-eslint'

// Layering (docs/architecture.md): lib/ never imports runtime/ (what both need lives in lib/),
// and commands reach Kubernetes only through lib/kube. test/lint-layers.test.ts checks these
// rules still fire.
const LAYERS = [
  {
    files: ['lib/**/*.ts'],
    rules: {'no-restricted-imports': ['error', {patterns: [{group: ['**/runtime/**'], message: 'lib/ never imports runtime/: move what both need into lib/.'}]}]},
  },
  {
    files: ['cli/**/*.ts'],
    rules: {'no-restricted-imports': ['error', {paths: [{name: '@kubernetes/client-node', message: 'Commands reach Kubernetes through lib/kube (kubeTargetFromFlags / kubeConfigFromFlags).'}]}]},
  },
]

export default tseslint.config(
  {ignores: ['dist/', 'coverage/', '.tap/', 'node_modules/', '**/build/', '.cache/', '.venv/', 'lib/plan/types.generated.ts']},
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_'}],
    },
  },
  ...LAYERS,
)
