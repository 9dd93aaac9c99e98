import { useEffect, useState } from 'preact/hooks'
import { api, query, tenantParam } from '../api.js'
import type { PageProps } from '../pages.js'

// The API's shapes (src/routes/api/webhooks.ts): a tenant's endpoints, and what was sent to one.
interface Endpoint {
  id: string
  tenantId: string
  url: string
  events: string[]
  description: string | null
  enabled: boolean
  disabledReason: string | null
  failingSince: string | null
  createdAt: string
}
type DeliveryStatus = 'pending' | 'delivered' | 'failed'
interface Delivery {
  id: string
  eventId: string
  type: string
  status: DeliveryStatus
  attempts: number
  lastStatus: number | null
  lastError: string | null
  nextAttemptAt: string | null
  createdAt: string
  deliveredAt: string | null
}

const EVENT_TYPES = ['call.started', 'consent.recorded', 'optout.recorded', 'recording.stored', 'recording.deleted', 'call.completed', 'contact.completed', 'dsr.completed']
const ALL = '*'
const DELIVERIES = 50

const when = (iso: string | null) => iso === null ? '—' : new Date(iso).toLocaleString()

export function WebhooksPage ({ me, tenant }: PageProps) {
  const scope = tenantParam(me, tenant)
  const [endpoints, setEndpoints] = useState<Endpoint[]>([])
  const [selected, setSelected] = useState<string | null>(null)
  // The secret of the endpoint just registered: the server never returns it again.
  const [secret, setSecret] = useState<{ url: string, secret: string } | null>(null)
  const [message, setMessage] = useState<string | null>(null)
  const [error, setError] = useState<string | null>(null)
  const load = async () => {
    const list = await api<Endpoint[]>('GET', '/webhooks' + query(scope))
    // The admin token may read every tenant's endpoints: the page shows the picked tenant's only.
    setEndpoints(me.role === 'admin' ? list.filter((w) => w.tenantId === tenant) : list)
  }
  useEffect(() => { load().catch((e: Error) => setError(e.message)) }, [])
  const act = async (what: () => Promise<string>) => {
    setMessage(null); setError(null)
    try { setMessage(await what()) } catch (err) { setError((err as Error).message) }
  }
  const remove = (w: Endpoint) => {
    if (!confirm(`Delete the webhook endpoint ${w.url}? Nothing more is sent to it.`)) return
    act(async () => {
      await api('DELETE', `/webhooks/${w.id}`)
      if (selected === w.id) setSelected(null)
      if (secret?.url === w.url) setSecret(null)
      await load()
      return `${w.url} deleted.`
    })
  }
  const endpoint = endpoints.find((w) => w.id === selected)
  return (
    <section>
      <h2>Webhooks</h2>
      <p class='muted'>Endpoints of this tenant that are sent its events (signed with each endpoint's own secret), and what was sent to each.</p>
      <RegisterForm
        scope={scope}
        onRegistered={(url, s) => act(async () => { setSecret({ url, secret: s }); await load(); return `${url} registered.` })}
        onError={(m) => { setMessage(null); setError(m) }}
      />
      {secret !== null && (
        <div class='warn' data-testid='webhook-secret'>
          <p><strong>Copy this signing secret now; it is not shown again.</strong> It signs what is sent to {secret.url}.</p>
          <p><code data-testid='webhook-secret-value'>{secret.secret}</code></p>
          <button type='button' onClick={() => setSecret(null)}>I have copied it</button>
        </div>
      )}
      {message !== null && <p class='ok' role='status' data-testid='webhooks-message'>{message}</p>}
      {error !== null && <p class='error' role='alert' data-testid='webhooks-error'>{error}</p>}
      <table class='list' data-testid='webhooks'>
        <thead><tr><th>URL</th><th>Events</th><th>Description</th><th>State</th><th>Failing since</th><th>Created</th><th /></tr></thead>
        <tbody>
          {endpoints.map((w) => (
            <tr key={w.id} data-webhook={w.url} data-id={w.id} data-enabled={String(w.enabled)}>
              <td><code>{w.url}</code></td>
              <td>{w.events.join(', ')}</td>
              <td>{w.description ?? '—'}</td>
              <td class={w.enabled ? 'ok' : 'bad'}>{w.enabled ? 'enabled' : `disabled: ${w.disabledReason ?? ''}`}</td>
              <td>{when(w.failingSince)}</td>
              <td>{when(w.createdAt)}</td>
              <td>
                <button type='button' data-action='deliveries' disabled={w.id === selected} onClick={() => setSelected(w.id)}>Deliveries</button>
                <button type='button' data-action='delete' onClick={() => remove(w)}>Delete</button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {endpoints.length === 0 && <p class='muted' data-testid='no-webhooks'>No endpoint is registered yet.</p>}
      {endpoint !== undefined && <Deliveries key={endpoint.id} endpoint={endpoint} />}
    </section>
  )
}

function RegisterForm ({ scope, onRegistered, onError }: { scope: { tenantId?: string }, onRegistered: (url: string, secret: string) => void, onError: (message: string) => void }) {
  const [url, setUrl] = useState('')
  const [all, setAll] = useState(false)
  const [events, setEvents] = useState<string[]>([])
  const [description, setDescription] = useState('')
  const toggle = (type: string, on: boolean) => setEvents(on ? [...events.filter((e) => e !== type), type] : events.filter((e) => e !== type))
  // In the list's order, whatever order they were ticked in.
  const chosen = all ? [ALL] : EVENT_TYPES.filter((e) => events.includes(e))
  const register = async (e: Event) => {
    e.preventDefault()
    if (chosen.length === 0) return
    try {
      const made = await api<{ id: string, secret: string }>('POST', '/webhooks', { url: url.trim(), events: chosen, ...scope, ...(description.trim() !== '' ? { description: description.trim() } : {}) })
      const registered = url.trim()
      setUrl(''); setAll(false); setEvents([]); setDescription('')
      onRegistered(registered, made.secret)
    } catch (err) { onError((err as Error).message) }
  }
  return (
    <form class='panel' data-form='new-webhook' onSubmit={register}>
      <h3>Register an endpoint</h3>
      <div class='row'>
        <label>URL <input type='url' name='url' required size={48} placeholder='https://hooks.example.com/callgate' value={url} onInput={(e) => setUrl(e.currentTarget.value)} /></label>
        <label>Description <input name='description' placeholder='optional' value={description} onInput={(e) => setDescription(e.currentTarget.value)} /></label>
      </div>
      <fieldset>
        <div class='row'>
          <h4>Events</h4>
          <label class='check'><input type='checkbox' name='events' value={ALL} checked={all} onChange={(e) => setAll(e.currentTarget.checked)} /> All events (*)</label>
          {EVENT_TYPES.map((type) => (
            <label key={type} class='check'><input type='checkbox' name='events' value={type} disabled={all} checked={all || events.includes(type)} onChange={(e) => toggle(type, e.currentTarget.checked)} /> {type}</label>
          ))}
        </div>
      </fieldset>
      <button type='submit' disabled={chosen.length === 0}>Register</button>
      {chosen.length === 0 && <span class='muted'> Pick at least one event.</span>}
    </form>
  )
}

function Deliveries ({ endpoint }: { endpoint: Endpoint }) {
  const [deliveries, setDeliveries] = useState<Delivery[] | null>(null)
  const [message, setMessage] = useState<string | null>(null)
  const [error, setError] = useState<string | null>(null)
  const load = async () => {
    const page = await api<{ deliveries: Delivery[] }>('GET', `/webhooks/${endpoint.id}/deliveries` + query({ limit: DELIVERIES }))
    setDeliveries(page.deliveries)
  }
  const reload = () => { setError(null); load().catch((e: Error) => setError(e.message)) }
  useEffect(reload, [endpoint.id])
  const retry = async (d: Delivery) => {
    setMessage(null); setError(null)
    try {
      const queued = await api<{ id: string, status: 'pending', nextAttemptAt: string }>('POST', `/webhooks/${endpoint.id}/deliveries/${d.id}/retry`)
      await load()
      setMessage(`${d.type} (${d.eventId}) queued again: next attempt ${when(queued.nextAttemptAt)}.`)
    } catch (err) { setError((err as Error).message) }
  }
  return (
    <div class='panel' data-testid='webhook-deliveries' data-webhook={endpoint.url}>
      <h3>Deliveries to <code>{endpoint.url}</code></h3>
      <p class='muted'>The latest {DELIVERIES}.</p>
      <button type='button' onClick={reload}>Reload</button>
      {message !== null && <p class='ok' role='status' data-testid='deliveries-message'>{message}</p>}
      {error !== null && <p class='error' role='alert' data-testid='deliveries-error'>{error}</p>}
      {deliveries === null
        ? <p class='muted'>Loading…</p>
        : (
          <div>
            <table class='list' data-testid='deliveries'>
              <thead><tr><th>Event</th><th>Event id</th><th>Status</th><th>Attempts</th><th>Last response</th><th>Next attempt</th><th>Created</th><th /></tr></thead>
              <tbody>
                {deliveries.map((d) => (
                  <tr key={d.id} data-delivery={d.id} data-status={d.status}>
                    <td>{d.type}</td><td><code>{d.eventId}</code></td>
                    <td class={d.status === 'delivered' ? 'ok' : d.status === 'failed' ? 'bad' : ''} title={d.deliveredAt !== null ? `delivered ${when(d.deliveredAt)}` : undefined}>{d.status}</td>
                    <td>{d.attempts}</td>
                    <td>{d.lastStatus !== null ? `HTTP ${d.lastStatus}` : d.lastError ?? '—'}</td>
                    <td>{when(d.nextAttemptAt)}</td>
                    <td>{when(d.createdAt)}</td>
                    <td>{d.status !== 'delivered' && <button type='button' data-action='retry' onClick={() => retry(d)}>Retry</button>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {deliveries.length === 0 && <p class='muted' data-testid='no-deliveries'>Nothing has been sent to this endpoint yet.</p>}
          </div>
          )}
    </div>
  )
}
