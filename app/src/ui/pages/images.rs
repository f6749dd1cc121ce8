//! Images: the operating system catalog servers are deployed with. Everyone sees the
//! current images (tenants choose one when they allocate); admins add and retire.

use crate::api::images::{AddImage, ImagesData, RetireImage, load_images};
use crate::domain::images::ImageFormat;
use crate::domain::inventory::size_text;
use crate::ui::components::{ActionError, error_text, utc};
use crate::ui::form_action::FormAction;
use leptos::prelude::*;

#[component]
pub fn ImagesPage() -> impl IntoView {
    let add = FormAction::<AddImage>::new();
    let retire = FormAction::<RetireImage>::new();
    let data = Resource::new(move || (add.version().get(), retire.version().get()), |_| load_images());
    view! {
        <h1>"Images"</h1>
        <p class="hint">"Operating system images written to servers when they are allocated. Rackstate keeps where each is and its SHA-256, not the image: the servers download it from its URL."</p>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || data.get().map(|r| match r {
                Err(e) => view! { <p class="error" role="alert">{error_text(&e)}</p> }.into_any(),
                Ok(d) => view! { <Catalog data=d add retire/> }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
fn Catalog(data: ImagesData, add: FormAction<AddImage>, retire: FormAction<RetireImage>) -> impl IntoView {
    let ImagesData { images, can_manage } = data;
    view! {
        <ActionError result=Signal::derive(move || retire.result())/>
        {if images.is_empty() {
            view! { <p class="muted">"No images in the catalog yet."</p> }.into_any()
        } else {
            view! {
                <div class="table-wrap" tabindex="0"><table data-testid="images">
                    <thead><tr>
                        <th>"Name"</th><th>"Format"</th><th>"Minimum disk"</th><th>"URL"</th><th>"SHA-256"</th>
                        <th>"Added"</th>{can_manage.then(|| view! { <th>"Retire"</th> })}
                    </tr></thead>
                    <tbody>
                    {images.into_iter().map(|i| {
                        let retired = i.retired_at.is_some();
                        let label = format!("Retire {}", i.name);
                        view! {
                            <tr class:muted=retired>
                                <td>{i.name.clone()}{retired.then(|| " (retired)")}</td>
                                <td>{i.format.as_str()}</td>
                                <td>{i.min_disk_bytes.map(|b| size_text(b.max(0) as u64)).unwrap_or_else(|| "any".into())}</td>
                                <td class="mono">{i.url.clone()}</td>
                                <td class="mono">{i.sha256.clone()}</td>
                                <td>{utc(i.created_at)}" by "{i.created_by.clone()}</td>
                                {can_manage.then(|| view! {
                                    <td>{(!retired).then(|| view! {
                                        <form action=retire.url() method="post" class="inline" on:submit=retire.on_submit()>
                                            <input type="hidden" name="id" value=i.id/>
                                            <button type="submit" aria-label=label>"Retire"</button>
                                        </form>
                                    })}</td>
                                })}
                            </tr>
                        }
                    }).collect_view()}
                    </tbody>
                </table></div>
            }.into_any()
        }}
        {can_manage.then(|| view! {
            <section class="card">
                <h2>"Add an image"</h2>
                <form action=add.url() method="post" class="grid-form" on:submit=add.on_submit()>
                    <label>"Name"<input name="name" required maxlength="64" placeholder="debian-12"/></label>
                    <label>"URL"<input name="url" type="url" required placeholder="http://images.example:8080/debian-12.raw"/></label>
                    <label>"SHA-256"<input name="sha256" required minlength="64" maxlength="64" class="mono"/></label>
                    <label>"Format"
                        <select name="format">
                            {ImageFormat::ALL.iter().map(|f| view! { <option value=f.as_str()>{f.as_str()}</option> }).collect_view()}
                        </select>
                    </label>
                    <label>"Minimum disk (GiB, optional)"<input name="min_disk_gib" type="number" min="1"/></label>
                    <button type="submit" class="primary">"Add image"</button>
                </form>
                <ActionError result=Signal::derive(move || add.result())/>
                {move || add.result().and_then(|r| r.ok()).map(|i| view! {
                    <p class="ok" role="status">{format!("Image {} added.", i.name)}</p>
                })}
            </section>
        })}
    }
}
