import { render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { api, ApiError, session, type Me } from './api.js'
import { pagesFor } from './pages.js'
import { go, useRoute } from './router.js'
import { SignIn } from './pages/sign-in.js'
import './styles.css'

function App () {
  const [me, setMe] = useState<Me | null>(null)
  const [checking, setChecking] = useState(session.key() !== null)
  const route = useRoute()

  // A key kept from earlier in this tab is checked again: it may have been revoked since.
  useEffect(() => {
    if (session.key() === null) return
    api<Me>('GET', '/me').then(setMe, (err: unknown) => {
      if (err instanceof ApiError && err.status === 401) session.signOut()
    }).finally(() => setChecking(false))
  }, [])

  if (checking) return <p class="muted">Checking your key…</p>
  if (me === null) return <SignIn onSignedIn={(who) => { setMe(who); go(pagesFor(who.role)[0]!.id) }} />

  const pages = pagesFor(me.role)
  const page = pages.find((p) => p.id === route[0]) ?? pages[0]!
  const Page = page.component
  return (
    <div class="layout">
      <nav>
        <h1>callgate</h1>
        <ul>
          {pages.map((p) => <li key={p.id}><a href={`#/${p.id}`} class={p.id === page.id ? 'active' : ''} data-page={p.id}>{p.title}</a></li>)}
        </ul>
        <div class="who">
          <span data-testid="role">{me.role}</span>{me.name !== null ? ` · ${me.name}` : ''}
          <button type="button" class="link" onClick={() => { session.signOut(); setMe(null); go() }}>Sign out</button>
        </div>
      </nav>
      <main data-page={page.id}>
        {me.role === 'admin' && <p class="warn">Signed in with the admin token, which belongs to no tenant: pages that act in one tenant (suppression, requests, audit) answer that a tenant is required. Use a tenant user's key for those.</p>}
        <Page me={me} route={route.slice(1)} />
      </main>
    </div>
  )
}

render(<App />, document.getElementById('app')!)
