// Which pages each role sees: the same split as the API's role checks, so a page never offers
// what its user would be refused. Controllers' pages (requests, audit) are not an agent's.
import type { FunctionComponent } from 'preact'
import type { Me } from './api.js'
import { AuditPage } from './pages/audit.js'
import { CallsPage } from './pages/calls.js'
import { CampaignsPage } from './pages/campaigns.js'
import { DsrPage } from './pages/dsr.js'
import { FlowsPage } from './pages/flows.js'
import { NumbersPage } from './pages/numbers.js'
import { OutboundPage } from './pages/outbound.js'
import { SuppressionPage } from './pages/suppression.js'
import { WebhooksPage } from './pages/webhooks.js'

export interface PageProps {
  me: Me
  route: string[]
  /** The tenant the page acts in: the user's own, or the one an admin picked (null: none yet). */
  tenant: string | null
}
type Role = Me['role']

interface Page {
  id: string
  title: string
  roles: Role[]
  component: FunctionComponent<PageProps>
  /** Acts in one tenant: an admin must pick one first. */
  oneTenant?: boolean
}

const PAGES: Page[] = [
  { id: 'flows', title: 'Flows', roles: ['ops'], component: FlowsPage },
  { id: 'campaigns', title: 'Campaigns', roles: ['ops', 'controller'], component: CampaignsPage },
  { id: 'outbound', title: 'Outbound', roles: ['ops', 'controller'], component: OutboundPage },
  { id: 'numbers', title: 'Numbers', roles: ['ops'], component: NumbersPage, oneTenant: true },
  { id: 'calls', title: 'Calls', roles: ['agent', 'controller'], component: CallsPage },
  { id: 'suppression', title: 'Suppression', roles: ['ops', 'agent', 'controller'], component: SuppressionPage, oneTenant: true },
  { id: 'dsr', title: 'Data-subject requests', roles: ['controller'], component: DsrPage, oneTenant: true },
  { id: 'audit', title: 'Audit log', roles: ['controller'], component: AuditPage, oneTenant: true },
  { id: 'webhooks', title: 'Webhooks', roles: ['controller'], component: WebhooksPage, oneTenant: true }
]

export function pagesFor (role: Role): Page[] {
  return PAGES.filter((p) => role === 'admin' || p.roles.includes(role))
}
