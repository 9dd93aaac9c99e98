import neostandard from 'neostandard'

// One code style for the whole project: neostandard (standard's rules, TypeScript included).
export default [
  ...neostandard({ ts: true, ignores: ['console/dist/**', 'coverage/**', '.tap/**', 'test/output/**', 'data/**'] }),
  {
    rules: {
      // `void promise` marks a promise deliberately not awaited (its errors handled inside).
      'no-void': ['error', { allowAsStatement: true }]
    }
  }
]
