// Pages live in the URL fragment (#/flows/<id>), so a reload keeps the page and the server
// needs no knowledge of the console's routes.
import { useEffect, useState } from 'preact/hooks'

export function useRoute (): string[] {
  const read = () => location.hash.replace(/^#\/?/, '').split('/').filter((s) => s !== '').map(decodeURIComponent)
  const [route, setRoute] = useState(read)
  useEffect(() => {
    const onChange = () => setRoute(read())
    addEventListener('hashchange', onChange)
    return () => removeEventListener('hashchange', onChange)
  }, [])
  return route
}

export const go = (...parts: string[]) => { location.hash = '#/' + parts.map(encodeURIComponent).join('/') }
