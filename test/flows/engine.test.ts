import t from 'tap'
import { alwaysOpenCampaign, formatTranscript, simulate } from '../../src/flows/simulate.js'
import { initialCallState, type CallState } from '../../src/flows/step-types.js'
import {
  MONDAY_CLOSED,
  MONDAY_OPEN,
  SWITCHBOARD,
  XML,
  consentNode,
  ctx,
  flow,
  gather,
  last,
  load,
  logs,
  london,
  ofType,
  resume,
  run,
  start,
} from './helpers.js'
import { runStep } from '../../src/flows/engine.js'
import type { FlowDefinition } from '../../src/flows/definition.js'

const design = load('design-example.json')
const everyNode = load('every-node-type.json')

t.test('design example, open: walks to the consent prompt', async (t) => {
  const [first] = run(design, [])
  const prompt = 'We would like to record this call for training. Press 1 to agree, or 2 to continue without recording.'
  t.equal(
    first?.twiml,
    `${XML}<Response><Say>Thank you for calling Acme.</Say>${gather('consent', prompt)}</Response>`
  )
  t.same(first?.nextState, { node: 'consent', retries: {}, consent: 'unknown', recording: false, steps: 3, ended: false })
  t.same(logs(first?.effects ?? []), [
    ['hours', 'open'],
    ['welcome', 'said'],
    ['consent', 'prompted'],
  ])
})

t.test('design example: grant starts the stream, then 9 opts out', async (t) => {
  const [, granted, optedOut] = run(design, [resume('consent', '1'), resume('menu', '9')])
  t.equal(
    granted?.twiml,
    `${XML}<Response><Start><Stream url="wss://cg.example/twilio/media" track="both_tracks" name="recording">` +
      '<Parameter name="token" value="token-1"/></Stream></Start>' +
      gather('menu', 'Press 1 for sales. Press 9 if you do not want us to call you again.').replace('timeout="5"', 'timeout="5"') +
      '</Response>'
  )
  t.same(ofType(granted?.effects ?? [], 'recordConsent'), [
    {
      type: 'recordConsent',
      node: 'consent',
      granted: true,
      decision: 'granted',
      digits: '1',
      prompt: design.nodes.consent?.type === 'consent' ? design.nodes.consent.prompt : '',
    },
  ])
  t.same(ofType(granted?.effects ?? [], 'startRecording'), [{ type: 'startRecording', node: 'record', token: 'token-1' }])
  t.match(granted?.nextState, { node: 'menu', consent: 'granted', recording: true })
  t.equal(
    optedOut?.twiml,
    `${XML}<Response><Say>You will not be called again. Goodbye.</Say><Hangup/></Response>`
  )
  t.same(optedOut?.effects, [
    { type: 'logEvent', node: 'menu', input: '9', outcome: 'option' },
    { type: 'suppress', node: 'optout', source: 'ivr' },
    { type: 'logEvent', node: 'optout', outcome: 'suppressed' },
    { type: 'logEvent', node: 'bye', outcome: 'hangup' },
    { type: 'hangup', node: 'bye' },
  ])
  t.match(optedOut?.nextState, { node: null, ended: true, recording: false })
})

t.test('design example, closed: dials the campaign switchboard, then hangs up', async (t) => {
  const results = run(design, [{ kind: 'resume', node: 'afterHours', dialStatus: 'completed' }], ctx({ now: MONDAY_CLOSED }))
  const [dialled, after] = results
  t.equal(
    dialled?.twiml,
    `${XML}<Response><Say>We are closed. Connecting you to reception.</Say>` +
      `<Dial action="https://cg.example/twilio/flow?node=afterHours" method="POST" timeout="30">${SWITCHBOARD}</Dial></Response>`
  )
  t.same(ofType(dialled?.effects ?? [], 'dial'), [{ type: 'dial', node: 'afterHours', to: SWITCHBOARD }])
  t.equal(dialled?.nextState.node, 'afterHours')
  t.equal(after?.twiml, `${XML}<Response><Hangup/></Response>`)
  t.same(logs(after?.effects ?? []), [['afterHours', 'dial-completed']])
  t.same(ofType(after?.effects ?? [], 'hangup'), [{ type: 'hangup', node: 'afterHours' }])
})

t.test('consent: deny, silence and unknown keys', async (t) => {
  const def = flow({ ask: consentNode, rec: { type: 'record', next: 'bye' }, bye: { type: 'hangup' } })
  const denied = last(run(def, [resume('ask', '2')]))
  t.same(ofType(denied.effects, 'recordConsent'), [
    { type: 'recordConsent', node: 'ask', granted: false, decision: 'denied', digits: '2', prompt: consentNode.prompt },
  ])
  t.match(denied.nextState, { consent: 'denied', ended: true })
  t.notMatch(denied.twiml, /<Stream/)

  const retried = run(def, [resume('ask', ''), resume('ask', '7'), resume('ask')])
  t.same(retried[1]?.nextState.retries, { ask: 1 })
  t.equal(retried[1]?.twiml, `${XML}<Response>${gather('ask', consentNode.prompt)}</Response>`)
  t.same(logs(retried[2]?.effects ?? []), [['ask', 'invalid-retry']])
  t.same(retried[2]?.effects.find((e) => e.type === 'logEvent'), { type: 'logEvent', node: 'ask', input: '7', outcome: 'invalid-retry' })
  const gaveUp = last(retried)
  t.same(ofType(gaveUp.effects, 'recordConsent'), [
    { type: 'recordConsent', node: 'ask', granted: false, decision: 'noInput', digits: null, prompt: consentNode.prompt },
  ])
  t.match(gaveUp.nextState, { consent: 'denied', retries: {}, ended: true })

  const invalidAtTheEnd = last(run(flow({ ask: { ...consentNode, retries: 0 }, rec: { type: 'record', next: 'bye' }, bye: { type: 'hangup' } }), [resume('ask', '#')]))
  t.match(ofType(invalidAtTheEnd.effects, 'recordConsent'), [{ decision: 'noInput', digits: '#' }])
})

t.test('consent: a later refusal stops a running stream', async (t) => {
  const def = flow({
    first: { ...consentNode, granted: 'rec', denied: 'bye', noInput: 'bye' },
    rec: { type: 'record', next: 'again' },
    again: { ...consentNode, granted: 'bye', denied: 'bye', noInput: 'bye' },
    bye: { type: 'hangup' },
  })
  const results = run(def, [resume('first', '1'), resume('again', '2')])
  t.match(results[1]?.nextState, { recording: true, node: 'again' })
  const refused = last(results)
  t.match(refused.twiml, /^.*<Response><Stop><Stream name="recording"\/><\/Stop><Hangup\/><\/Response>$/)
  t.same(ofType(refused.effects, 'stopRecording'), [{ type: 'stopRecording', node: 'again' }])
})

t.test('consent when the decision cannot be stored goes on unrecorded', async (t) => {
  const def = flow({ ask: consentNode, rec: { type: 'record', next: 'bye' }, bye: { type: 'hangup', say: 'Bye.' } })
  const skipped = runStep(def, initialCallState(), start, ctx({ consentWritable: false }))
  t.equal(skipped.twiml, `${XML}<Response><Say>Bye.</Say><Hangup/></Response>`)
  t.same(logs(skipped.effects), [
    ['ask', 'skipped-consent-not-writable'],
    ['bye', 'hangup'],
  ])
  // The route's re-run after failing to store a grant: the same input, the flag set.
  const waiting = runStep(def, initialCallState(), start, ctx()).nextState
  const rerun = runStep(def, waiting, resume('ask', '1'), ctx({ consentWritable: false }))
  t.same(ofType(rerun.effects, 'recordConsent'), [])
  t.notMatch(rerun.twiml, /<Stream/)
  t.equal(rerun.nextState.consent, 'denied')
  t.match(rerun.effects[0], { node: 'ask', input: '1', outcome: 'consent-not-writable' })
  t.match(runStep(def, waiting, resume('ask'), ctx({ consentWritable: false })).effects[0], { outcome: 'consent-not-writable' })
})

t.test('menu: options, re-prompts with the invalid prompt, default retries, no input', async (t) => {
  const def = flow({
    main: { type: 'menu', prompt: 'Press 1.', options: { 1: 'one' }, invalidPrompt: 'Not that one.', noInput: 'bye' },
    one: { type: 'say', text: 'One.' },
    bye: { type: 'hangup' },
  })
  const chose = last(run(def, [resume('main', '1')]))
  t.equal(chose.twiml, `${XML}<Response><Say>One.</Say><Hangup/></Response>`)
  t.same(ofType(chose.effects, 'hangup'), [{ type: 'hangup', node: 'one' }])

  const results = run(def, [resume('main', '5'), resume('main', ''), resume('main', 'constructor')])
  t.equal(results[1]?.twiml, `${XML}<Response>${gather('main', 'Not that one.', 'Press 1.')}</Response>`)
  t.equal(results[2]?.twiml, `${XML}<Response>${gather('main', 'Press 1.')}</Response>`)
  t.same(results[2]?.nextState.retries, { main: 2 })
  t.same(logs(last(results).effects), [
    ['main', 'invalid-exhausted'],
    ['bye', 'hangup'],
  ])
  t.same(logs(last(run(def, [resume('main'), resume('main'), resume('main')])).effects)[0], ['main', 'no-input'])

  const noRetry = flow({
    main: { type: 'menu', prompt: 'Press 1.', options: { 1: 'bye' }, retries: 0, timeoutSeconds: 9, noInput: 'bye' },
    bye: { type: 'hangup' },
  })
  const [prompted, timedOut] = run(noRetry, [resume('main')])
  t.match(prompted?.twiml, /timeout="9"/)
  t.same(logs(timedOut?.effects ?? []), [
    ['main', 'no-input'],
    ['bye', 'hangup'],
  ])
})

t.test('menu entered again starts with fresh retries', async (t) => {
  const results = run(load('menu-loop-with-exit.json'), [resume('main', ''), resume('main', '1')])
  t.same(results[1]?.nextState.retries, { main: 1 })
  t.same(last(results).nextState.retries, {})
  t.match(last(results).twiml, /<Say>Here are the options again.<\/Say><Gather/)
})

t.test('every node type, through the every-node-type fixture', async (t) => {
  const results = run(everyNode, [resume('ask', '1'), resume('main', '*')])
  t.match(results[0]?.twiml, /^.*<Response><Play>https:\/\/cdn.example.com\/jingle.mp3<\/Play><Say voice="Polly.Amy" language="en-GB">Welcome to Acme.<\/Say><Gather[^>]*timeout="6"/)
  t.match(results[1]?.twiml, /<Start><Stream/)
  t.equal(
    results[2]?.twiml,
    `${XML}<Response><Stop><Stream name="recording"/></Stop><Say>Recording stopped.</Say><Say>Goodbye.</Say><Hangup/></Response>`
  )
  t.same(logs(results[2]?.effects ?? []), [
    ['main', 'option'],
    ['stop', 'stopped'],
    ['stopped', 'said'],
    ['bye', 'hangup'],
  ])
  const sales = last(run(everyNode, [resume('ask', '2'), resume('main', '1')]))
  t.match(sales.twiml, /<Dial action="https:\/\/cg.example\/twilio\/flow\?node=sales" method="POST" timeout="20">\+442071234567<\/Dial><\/Response>$/)
  t.notMatch(sales.twiml, /callerId/, 'the caller id is passed through')
  const support = run(everyNode, [resume('ask', '2'), resume('main', '2'), { kind: 'resume', node: 'support' }])
  t.same(logs(last(support).effects), [['support', 'dial-unknown']])
  t.equal(last(support).twiml, `${XML}<Response><Hangup/></Response>`)
  const afterSales = last(run(everyNode, [resume('ask', '2'), resume('main', '1'), { kind: 'resume', node: 'sales', dialStatus: 'no-answer' }]))
  t.same(logs(afterSales.effects), [
    ['sales', 'dial-no-answer'],
    ['bye', 'hangup'],
  ])
})

t.test('record without consent is skipped; twice is once; stop without a stream says so', async (t) => {
  const def = flow({
    rec: { type: 'record', next: 'stop' },
    stop: { type: 'stopRecording', next: 'bye' },
    bye: { type: 'hangup' },
  })
  const [result] = run(def, [])
  t.equal(result?.twiml, `${XML}<Response><Hangup/></Response>`)
  t.same(logs(result?.effects ?? []), [
    ['rec', 'skipped-no-consent'],
    ['stop', 'not-recording'],
    ['bye', 'hangup'],
  ])
  const recording: CallState = { ...initialCallState(), consent: 'granted', recording: true, node: 'wait' }
  const twice = flow({
    wait: { type: 'menu', prompt: 'Press 1.', options: { 1: 'rec' }, noInput: 'rec' },
    rec: { type: 'record', next: 'bye' },
    bye: { type: 'hangup' },
  })
  const again = runStep(twice, recording, resume('wait', '1'), ctx())
  t.same(logs(again.effects)[1], ['rec', 'already-recording'])
  t.notMatch(again.twiml, /<Start>/)
})

t.test('dial without a usable number apologises and goes on', async (t) => {
  const def = flow({
    call: { type: 'dial', to: 'switchboard', next: 'bye' },
    bye: { type: 'hangup' },
  })
  for (const switchboard of [null, 'reception']) {
    const [result] = run(def, [], ctx({ campaign: { ...london, switchboard } }))
    t.equal(result?.twiml, `${XML}<Response><Say>Sorry, we cannot connect your call right now.</Say><Hangup/></Response>`)
    t.same(logs(result?.effects ?? [])[0], ['call', 'no-number'])
    t.same(ofType(result?.effects ?? [], 'dial'), [])
  }
  const [noNext] = run(flow({ call: { type: 'dial', to: 'switchboard' } }), [], ctx({ campaign: { ...london, switchboard: null } }))
  t.match(noNext?.nextState, { ended: true })
})

t.test('hours with a broken campaign timezone takes the closed path', async (t) => {
  const def = flow({ h: { type: 'hours', open: 'a', closed: 'b' }, a: { type: 'say', text: 'Open.' }, b: { type: 'say', text: 'Closed.' } })
  const [broken] = run(def, [], ctx({ campaign: { ...london, timezone: 'Nowhere/Else' } }))
  t.match(broken?.twiml, /<Say>Closed.<\/Say>/)
  t.same(logs(broken?.effects ?? [])[0], ['h', 'closed-invalid-campaign-hours'])
  t.match(run(def, [], ctx({ now: MONDAY_CLOSED }))[0]?.twiml, /Closed/)
  t.match(run(def, [])[0]?.twiml, /Open/)
})

t.test('optout that could not be stored says so and suppresses nothing', async (t) => {
  const def = flow({ out: { type: 'optout', say: 'Done.', next: 'bye' }, bye: { type: 'hangup' } })
  const failed = runStep(def, initialCallState(), start, ctx({ optoutWritable: false }))
  t.match(failed.twiml, /<Say>Sorry, we could not record your request not to be called again\./)
  t.same(ofType(failed.effects, 'suppress'), [])
  t.same(logs(failed.effects)[0], ['out', 'optout-not-stored'])
  const custom = flow({ out: { type: 'optout', say: 'Done.', failSay: 'That did not work.' } })
  t.equal(runStep(custom, initialCallState(), start, ctx({ optoutWritable: false })).twiml, `${XML}<Response><Say>That did not work.</Say><Hangup/></Response>`)
})

t.test('say and play at the end of a path hang up', async (t) => {
  const [said] = run(flow({ hi: { type: 'say', text: 'Hi.' } }))
  t.equal(said?.twiml, `${XML}<Response><Say>Hi.</Say><Hangup/></Response>`)
  const [played] = run(flow({ p: { type: 'play', url: 'https://x.example/a.wav' } }))
  t.equal(played?.twiml, `${XML}<Response><Play>https://x.example/a.wav</Play><Hangup/></Response>`)
  t.same(ofType(played?.effects ?? [], 'hangup'), [{ type: 'hangup', node: 'p' }])
})

t.test('simulate drives a whole call and formats the transcript', async (t) => {
  const transcript = simulate(design, { campaign: london, now: MONDAY_OPEN, digits: ['1', '1'], dialStatuses: ['busy'] })
  t.same(
    transcript.map((r) => [r.input.kind, r.waitingAt]),
    [
      ['start', 'consent'],
      ['resume', 'menu'],
      ['resume', 'sales'],
      ['resume', null],
    ]
  )
  t.match(transcript[1]?.twiml, /<Stream url="wss:\/\/callgate.example\/twilio\/media"[^>]*><Parameter name="token" value="simulated-token-2"\/>/)
  t.same(logs(last(transcript).effects)[0], ['sales', 'dial-busy'])
  const text = formatTranscript(transcript)
  t.match(text, /#1 call starts → waiting at consent/)
  t.match(text, /#2 resume consent digits "1" → waiting at menu/)
  t.match(text, /#4 resume sales dial status busy → call ended/)
  t.match(text, /recordConsent \{"node":"consent","granted":true/)

  const stalled = simulate(design, { campaign: london, now: MONDAY_OPEN, digits: [] })
  t.equal(stalled.length, 1, 'stops when the scripted digits run out')
  const closed = simulate(design, { campaign: london, now: MONDAY_CLOSED, digits: [], baseUrl: 'http://localhost:3000' })
  t.match(closed[1]?.effects, [{ outcome: 'dial-completed' }], 'dials complete by default')
  t.match(closed[0]?.twiml, /action="http:\/\/localhost:3000\/twilio\/flow\?node=afterHours"/)
  const loop = load('menu-loop-with-exit.json')
  t.equal(simulate(loop, { campaign: london, now: MONDAY_OPEN, digits: Array(20).fill('1'), maxRequests: 5 }).length, 5)
  t.match(formatTranscript(simulate(loop, { campaign: london, now: MONDAY_OPEN, digits: [''] })), /resume main digits ""/)
  t.match(
    formatTranscript([{ input: { kind: 'resume', node: 'm' }, waitingAt: null, twiml: '', effects: [], state: { ...initialCallState(), ended: true } }]),
    /resume m digits ""/
  )
})

t.test('alwaysOpenCampaign', async (t) => {
  t.equal(alwaysOpenCampaign().switchboard, null)
  t.equal(alwaysOpenCampaign('+442071234567').switchboard, '+442071234567')
  t.equal(alwaysOpenCampaign('reception').switchboard, null)
  t.same(alwaysOpenCampaign().hours.sun, [['00:00', '24:00']])
})

t.test('an outbound call answered by a machine begins at the machine entry, or hangs up', async (t) => {
  const def = { start: 'hello', machine: 'message', nodes: { hello: { type: 'say', text: 'Hello.', next: 'bye' }, message: { type: 'say', text: 'Acme called; call back and press 9 to stop our calls.', next: 'bye' }, bye: { type: 'hangup' } } } as FlowDefinition
  const machine = runStep(def, initialCallState(), { kind: 'start', machine: true }, ctx())
  t.equal(machine.twiml, `${XML}<Response><Say>Acme called; call back and press 9 to stop our calls.</Say><Hangup/></Response>`)
  t.same(logs(machine.effects)[0], ['message', 'machine-answered'])
  t.equal(machine.nextState.ended, true)
  const person = runStep(def, initialCallState(), { kind: 'start' }, ctx())
  t.match(person.twiml, '<Say>Hello.</Say>')
  const without: FlowDefinition = { start: def.start, nodes: def.nodes }
  const hungUp = runStep(without, initialCallState(), { kind: 'start', machine: true }, ctx())
  t.equal(hungUp.twiml, `${XML}<Response><Hangup/></Response>`)
  t.same(logs(hungUp.effects), [['hello', 'machine-hangup']])
})
