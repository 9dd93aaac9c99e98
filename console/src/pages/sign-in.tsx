import { useState } from 'preact/hooks'
import { api, ApiError, session, type Me } from '../api.js'

export function SignIn ({ onSignedIn }: { onSignedIn: (me: Me) => void }) {
  const [key, setKey] = useState('')
  const [error, setError] = useState<string | null>(null)
  const submit = async (e: Event) => {
    e.preventDefault()
    session.signIn(key.trim())
    try {
      onSignedIn(await api<Me>('GET', '/me'))
    } catch (err) {
      session.signOut()
      setError(err instanceof ApiError && err.status === 401 ? 'That key was not accepted.' : String((err as Error).message))
    }
  }
  // method=post and no action: even if the script failed, the key would not end up in a URL.
  return (
    <form class='sign-in' method='post' onSubmit={submit}>
      <h1>callgate console</h1>
      <label>API key <input type='password' name='apiKey' autocomplete='off' required value={key} onInput={(e) => setKey(e.currentTarget.value)} /></label>
      <button type='submit'>Sign in</button>
      {error !== null && <p class='error' role='alert'>{error}</p>}
      <p class='muted'>The key is kept in this tab only (sessionStorage) and sent as a bearer token.</p>
    </form>
  )
}
