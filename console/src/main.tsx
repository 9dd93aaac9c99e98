import { render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { api, ApiError, session, type Me, type Tenant } from './api.js'
import { pagesFor } from './pages.js'
import { go, useRoute } from './router.js'
import { SignIn } from './pages/sign-in.js'
import './styles.css'

/** The admin's choice of tenant to work in; the admin token itself belongs to none. */
function TenantPicker ({ value, onPick }: { value: string | null, onPick: (id: string | null) => void }) {
  const [tenants, setTenants] = useState<Tenant[] | null>(null)
  const [error, setError] = useState<string | null>(null)
  useEffect(() => {
    api<Tenant[]>('GET', '/tenants').then((list) => {
      setTenants(list)
      // A tenant picked earlier in this tab may have been erased since.
      if (value !== null && !list.some((t) => t.id === value)) onPick(null)
    }, (e: Error) => setError(e.message))
  }, [])
  if (error !== null) return <p class='error' role='alert'>{error}</p>
  return (
    <label class='tenant-picker'>Tenant{' '}
      <select name='tenant' data-testid='tenant-picker' disabled={tenants === null} value={value ?? ''} onChange={(e) => onPick(e.currentTarget.value === '' ? null : e.currentTarget.value)}>
        <option value=''>{tenants === null ? 'loading…' : '— pick one —'}</option>
        {(tenants ?? []).map((t) => <option key={t.id} value={t.id}>{t.name}{t.offboardingSince !== null ? ' (being offboarded)' : ''}</option>)}
      </select>
    </label>
  )
}

function App () {
  const [me, setMe] = useState<Me | null>(null)
  const [picked, setPicked] = useState<string | null>(session.tenant())
  const [checking, setChecking] = useState(session.key() !== null)
  const route = useRoute()

  // A key kept from earlier in this tab is checked again: it may have been revoked since.
  useEffect(() => {
    if (session.key() === null) return
    api<Me>('GET', '/me').then(setMe, (err: unknown) => {
      if (err instanceof ApiError && err.status === 401) session.signOut()
    }).finally(() => setChecking(false))
  }, [])

  if (checking) return <p class='muted'>Checking your key…</p>
  if (me === null) return <SignIn onSignedIn={(who) => { setMe(who); go(pagesFor(who.role)[0]!.id) }} />

  const pages = pagesFor(me.role)
  const page = pages.find((p) => p.id === route[0]) ?? pages[0]!
  const Page = page.component
  const tenant = me.role === 'admin' ? picked : me.tenantId
  const pick = (id: string | null) => { session.pickTenant(id); setPicked(id) }
  return (
    <div class='layout'>
      <nav>
        <h1>callgate</h1>
        <ul>
          {pages.map((p) => <li key={p.id}><a href={`#/${p.id}`} class={p.id === page.id ? 'active' : ''} data-page={p.id}>{p.title}</a></li>)}
        </ul>
        <div class='who'>
          <span data-testid='role'>{me.role}</span>{me.name !== null ? ` · ${me.name}` : ''}
          <button type='button' class='link' onClick={() => { session.signOut(); setMe(null); setPicked(null); go() }}>Sign out</button>
        </div>
        {me.role === 'admin' && <TenantPicker value={picked} onPick={pick} />}
      </nav>
      <main data-page={page.id}>
        {page.oneTenant === true && tenant === null
          ? <p class='warn' data-testid='pick-tenant'>The admin token belongs to no tenant: pick the tenant to work in (under the menu) to use this page.</p>
          // Keyed by tenant: another pick starts the page afresh rather than mixing two tenants' results.
          : <Page key={tenant ?? ''} me={me} route={route.slice(1)} tenant={tenant} />}
      </main>
    </div>
  )
}

render(<App />, document.getElementById('app')!)
