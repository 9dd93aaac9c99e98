// A CSV file sent to an import route with a progress bar: the suppression list's import and a
// campaign's contact list share it.
import { useState } from 'preact/hooks'
import { uploadCsv } from './api.js'

export function useCsvUpload<T> () {
  const [file, setFile] = useState<File | null>(null)
  const [progress, setProgress] = useState<{ sent: number, total: number } | null>(null)
  const [result, setResult] = useState<T | null>(null)
  const [error, setError] = useState<string | null>(null)
  /** Sends the chosen file to `path` (under /api); resolves with the result, or null on failure (shown as `error`). */
  const send = async (path: string): Promise<T | null> => {
    if (file === null) return null
    setError(null); setResult(null); setProgress({ sent: 0, total: file.size })
    try {
      const answer = await uploadCsv<T>(path, file, (sent, total) => setProgress({ sent, total }))
      setResult(answer)
      return answer
    } catch (err) {
      setError((err as Error).message)
      return null
    }
  }
  return { file, setFile, progress, result, error, send }
}

export function UploadProgress ({ progress, testId }: { progress: { sent: number, total: number } | null, testId: string }) {
  if (progress === null) return null
  return <progress data-testid={testId} max={progress.total} value={progress.sent}>{Math.round(100 * progress.sent / Math.max(1, progress.total))}%</progress>
}
