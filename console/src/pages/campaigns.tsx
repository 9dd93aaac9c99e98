import { useEffect, useState } from 'preact/hooks'
import { api, type Campaign } from '../api.js'
import type { PageProps } from '../pages.js'
import { go } from '../router.js'

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const
const BASES = ['consent', 'contract', 'legal_obligation', 'vital_interests', 'public_task', 'legitimate_interest']

/** "09:00-12:30, 13:30-17:30" ⇄ [["09:00","12:30"],["13:30","17:30"]]. */
const hoursText = (day: Array<[string, string]> | undefined) => (day ?? []).map(([a, b]) => `${a}-${b}`).join(', ')
const parseHours = (text: string) => text.split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => s.split('-').map((x) => x.trim()) as [string, string])

export function CampaignsPage ({ me, route }: PageProps) {
  const [campaigns, setCampaigns] = useState<Campaign[]>([])
  const [error, setError] = useState<string | null>(null)
  const load = () => api<Campaign[]>('GET', '/campaigns').then(setCampaigns, (e: Error) => setError(e.message))
  useEffect(() => { load() }, [])
  const selected = campaigns.find((c) => c.id === route[0])
  const canEdit = me.role === 'ops' || me.role === 'admin'
  return (
    <section>
      <h2>Campaigns</h2>
      <ul class='tabs'>
        {campaigns.map((c) => <li key={c.id}><a href={`#/campaigns/${c.id}`} class={c.id === route[0] ? 'active' : ''}>{c.name}</a></li>)}
      </ul>
      {error !== null && <p class='error' role='alert'>{error}</p>}
      {selected !== undefined
        ? <CampaignForm key={selected.id} campaign={selected} readOnly={!canEdit} onSaved={load} />
        : <p class='muted'>Choose a campaign.</p>}
      {canEdit && <NewCampaign onCreated={(id) => { load(); go('campaigns', id) }} />}
    </section>
  )
}

function CampaignForm ({ campaign, readOnly, onSaved }: { campaign: Campaign, readOnly: boolean, onSaved: () => void }) {
  const [hours, setHours] = useState(() => Object.fromEntries(DAYS.map((d) => [d, hoursText(campaign.hours[d])])))
  const [holidays, setHolidays] = useState(campaign.holidays.join(', '))
  const [switchboard, setSwitchboard] = useState(campaign.switchboard ?? '')
  const [retention, setRetention] = useState(campaign.retention)
  const [lawfulBasis, setLawfulBasis] = useState(campaign.lawfulBasis)
  const [lia, setLia] = useState(campaign.lia ?? { purpose: '', necessity: '', balancing: '' })
  const [message, setMessage] = useState<string | null>(null)
  const [error, setError] = useState<string | null>(null)
  const save = async (e: Event) => {
    e.preventDefault()
    setMessage(null); setError(null)
    const liaFilled = lia.purpose !== '' || lia.necessity !== '' || lia.balancing !== ''
    try {
      await api('PATCH', `/campaigns/${campaign.id}`, {
        hours: Object.fromEntries(DAYS.map((d) => [d, parseHours(hours[d] ?? '')] as const).filter(([, v]) => v.length > 0)),
        holidays: holidays.split(/[\s,]+/).filter((s) => s !== ''),
        switchboard: switchboard.trim() === '' ? null : switchboard.trim(),
        retention,
        lawfulBasis,
        lia: liaFilled ? lia : null
      })
      setMessage('Saved.')
      onSaved()
    } catch (err) { setError((err as Error).message) }
  }
  return (
    <form class='campaign' onSubmit={save}>
      <fieldset disabled={readOnly}>
        <p class='muted'>Timezone {campaign.timezone}</p>
        <h3>Opening hours</h3>
        {DAYS.map((d) => <label key={d} class='inline'>{d} <input name={`hours-${d}`} placeholder='closed' value={hours[d]} onInput={(e) => setHours({ ...hours, [d]: e.currentTarget.value })} /></label>)}
        <p class='muted'>Each day: intervals such as 09:00-12:30, 13:30-17:30 (an end before its start runs overnight); empty is closed.</p>
        <label>Holidays (YYYY-MM-DD, comma-separated) <input name='holidays' value={holidays} onInput={(e) => setHolidays(e.currentTarget.value)} /></label>
        <label>Switchboard (E.164) <input name='switchboard' value={switchboard} onInput={(e) => setSwitchboard(e.currentTarget.value)} /></label>
        <h3>Retention (days)</h3>
        {(['recordingsDays', 'callLogDays', 'redactAfterDays'] as const).map((k) => (
          <label key={k} class='inline'>{k} <input type='number' min={0} max={3650} name={k} value={retention[k]} onInput={(e) => setRetention({ ...retention, [k]: Number(e.currentTarget.value) })} /></label>
        ))}
        <h3>Lawful basis</h3>
        <select name='lawfulBasis' value={lawfulBasis} onChange={(e) => setLawfulBasis(e.currentTarget.value)}>{BASES.map((b) => <option key={b} value={b}>{b}</option>)}</select>
        <h3>Legitimate-interest assessment</h3>
        {(['purpose', 'necessity', 'balancing'] as const).map((k) => (
          <label key={k}>{k} <textarea name={`lia-${k}`} rows={3} value={lia[k]} onInput={(e) => setLia({ ...lia, [k]: e.currentTarget.value })} /></label>
        ))}
        {!readOnly && <button type='submit'>Save campaign</button>}
      </fieldset>
      {message !== null && <p class='ok' role='status'>{message}</p>}
      {error !== null && <p class='error' role='alert'>{error}</p>}
    </form>
  )
}

function NewCampaign ({ onCreated }: { onCreated: (id: string) => void }) {
  const [name, setName] = useState('')
  const [timezone, setTimezone] = useState('Europe/London')
  const [error, setError] = useState<string | null>(null)
  const create = async (e: Event) => {
    e.preventDefault()
    try {
      const c = await api<Campaign>('POST', '/campaigns', { name, timezone, retention: { recordingsDays: 90, callLogDays: 365, redactAfterDays: 30 }, lawfulBasis: 'consent' })
      onCreated(c.id)
    } catch (err) { setError((err as Error).message) }
  }
  return (
    <form class='row' onSubmit={create}>
      <h3>New campaign</h3>
      <label>Name <input name='name' required value={name} onInput={(e) => setName(e.currentTarget.value)} /></label>
      <label>Timezone <input name='timezone' required value={timezone} onInput={(e) => setTimezone(e.currentTarget.value)} /></label>
      <button type='submit'>Create</button>
      {error !== null && <p class='error' role='alert'>{error}</p>}
    </form>
  )
}
