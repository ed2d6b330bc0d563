/** The built console bundle, imported `with { type: "text" }` (embedded.ts). */
declare module "*/dist/console.js" {
  const text: string;
  export default text;
}
