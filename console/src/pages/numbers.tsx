import { useEffect, useState } from 'preact/hooks'
import { api, type Campaign, type Flow } from '../api.js'
import type { PageProps } from '../pages.js'

// GET /api/numbers (src/routes/api/numbers.ts): the tenant's numbers, each bound to a campaign and a flow.
interface BoundNumber { id: string, tenantId: string, number: string, campaignId: string, flowId: string, createdAt: string }
interface Lists { numbers: BoundNumber[], campaigns: Campaign[], flows: Flow[] }

export function NumbersPage ({ me, tenant }: PageProps) {
  const [lists, setLists] = useState<Lists>({ numbers: [], campaigns: [], flows: [] })
  const [message, setMessage] = useState<string | null>(null)
  const [error, setError] = useState<string | null>(null)
  // The admin token reads every tenant's lists: the page shows the picked tenant's only.
  const mine = <T extends object>(rows: T[]) => me.role === 'admin' ? rows.filter((r) => (r as { tenantId?: unknown }).tenantId === tenant) : rows
  const load = async () => {
    const [numbers, campaigns, flows] = await Promise.all([api<BoundNumber[]>('GET', '/numbers'), api<Campaign[]>('GET', '/campaigns'), api<Flow[]>('GET', '/flows')])
    setLists({ numbers: mine(numbers), campaigns: mine(campaigns), flows: mine(flows) })
  }
  useEffect(() => { load().catch((e: Error) => setError(e.message)) }, [])
  const act = async (what: () => Promise<string>) => {
    setMessage(null); setError(null)
    try { setMessage(await what()) } catch (err) { setError((err as Error).message) }
  }
  const unbind = (n: BoundNumber) => act(async () => {
    await api('DELETE', `/numbers/${n.id}`)
    await load()
    return `${n.number} unbound.`
  })
  const campaignName = (id: string) => lists.campaigns.find((c) => c.id === id)?.name ?? id
  const flowName = (id: string) => lists.flows.find((f) => f.id === id)?.name ?? id
  return (
    <section>
      <h2>Numbers</h2>
      <p class='muted'>Twilio numbers of this tenant: a call to one runs the flow it is bound to, in its campaign; a campaign's dialler calls from one of its numbers.</p>
      <table class='list' data-testid='numbers'>
        <thead><tr><th>Number</th><th>Campaign</th><th>Flow</th><th>Bound</th><th /></tr></thead>
        <tbody>
          {lists.numbers.map((n) => (
            <tr key={n.id} data-number={n.number}>
              <td>{n.number}</td><td>{campaignName(n.campaignId)}</td><td>{flowName(n.flowId)}</td><td>{new Date(n.createdAt).toLocaleString()}</td>
              <td><button type='button' onClick={() => unbind(n)}>Unbind</button></td>
            </tr>
          ))}
        </tbody>
      </table>
      {lists.numbers.length === 0 && <p class='muted'>No number is bound yet.</p>}
      {message !== null && <p class='ok' role='status' data-testid='numbers-message'>{message}</p>}
      {error !== null && <p class='error' role='alert' data-testid='numbers-error'>{error}</p>}
      <BindForm campaigns={lists.campaigns} flows={lists.flows} onBound={(n) => act(async () => { await load(); return `${n.number} bound.` })} onError={(m) => { setMessage(null); setError(m) }} />
    </section>
  )
}

function BindForm ({ campaigns, flows, onBound, onError }: { campaigns: Campaign[], flows: Flow[], onBound: (n: BoundNumber) => void, onError: (message: string) => void }) {
  const [number, setNumber] = useState('')
  const [campaignId, setCampaignId] = useState('')
  const [flowId, setFlowId] = useState('')
  const [configureTwilio, setConfigureTwilio] = useState(false)
  // Until one is picked, the first campaign, and the first of its flows.
  const campaign = campaigns.find((c) => c.id === campaignId) ?? campaigns[0]
  const ofCampaign = flows.filter((f) => f.campaignId === campaign?.id)
  const flow = ofCampaign.find((f) => f.id === flowId) ?? ofCampaign[0]
  const bind = async (e: Event) => {
    e.preventDefault()
    if (campaign === undefined || flow === undefined) return
    try {
      const bound = await api<BoundNumber>('POST', '/numbers', { number: number.replace(/[\s()-]/g, ''), campaignId: campaign.id, flowId: flow.id, ...(configureTwilio ? { configureTwilio: true } : {}) })
      setNumber('')
      onBound(bound)
    } catch (err) { onError((err as Error).message) }
  }
  return (
    <form class='row' data-form='bind-number' onSubmit={bind}>
      <h3>Bind a number</h3>
      <label>Number (E.164) <input name='number' required placeholder='+442079460018' value={number} onInput={(e) => setNumber(e.currentTarget.value)} /></label>
      <label>Campaign{' '}
        <select name='campaignId' value={campaign?.id ?? ''} onChange={(e) => { setCampaignId(e.currentTarget.value); setFlowId('') }}>
          {campaigns.map((c) => <option key={c.id} value={c.id}>{c.name}</option>)}
        </select>
      </label>
      <label>Flow{' '}
        <select name='flowId' value={flow?.id ?? ''} onChange={(e) => setFlowId(e.currentTarget.value)}>
          {ofCampaign.length === 0 && <option value=''>— the campaign has no flow —</option>}
          {ofCampaign.map((f) => <option key={f.id} value={f.id}>{f.name}{f.publishedVersion === null ? ' (not published)' : ''}</option>)}
        </select>
      </label>
      <label class='check'><input type='checkbox' name='configureTwilio' checked={configureTwilio} onChange={(e) => setConfigureTwilio(e.currentTarget.checked)} /> configure at Twilio (point the number at this server)</label>
      <button type='submit' disabled={campaign === undefined || flow === undefined}>Bind</button>
    </form>
  )
}
